"""``lockgate monitor ENV``: watch the live version; roll back on a sustained breach.

Exit 0 when the version stayed healthy for the whole watch, 1 when it breached (and was rolled
back, where a previous version exists).
"""

from __future__ import annotations

import argparse
import json

from lockgate.commands._options import add_delivery_argument, add_json_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "env", help="environment name (listed under `environments` in lockgate.yaml)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="stop watching after this long (default 600)",
    )
    parser.add_argument(
        "--windows", type=int, default=None, metavar="N", help="stop after N analysis windows"
    )
    add_delivery_argument(parser)
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.environment import open_environment
    from lockgate.delivery.rollout.monitor import LiveMonitor

    rollouts = open_environment(args.env, args.delivery, quiet=args.json)
    report = LiveMonitor(rollouts, log=rollouts.log).watch(args.duration, args.windows)
    if args.json:
        print(
            json.dumps(
                {
                    "reason": report.reason,
                    "windows": [w.as_record() for w in report.windows],
                    "rollback": report.rollback.as_record() if report.rollback else None,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        print(f"{args.env}: {report.reason}")
    return report.exit_code
