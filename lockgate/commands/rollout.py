"""``lockgate rollout start|resume|abort|status ENV``: gated canary / blue-green rollouts.

Exit codes: 0 done (completed, deployed, rolled back), 1 aborted by analysis, 4 paused (waiting
for ``lockgate rollout resume ENV``), 2 bad input. ``--json`` prints the outcome, measurements
included, for the promotion ledger.
"""

from __future__ import annotations

import argparse
import json

from lockgate.commands._options import add_delivery_argument, add_json_argument
from lockgate.errors import LockgateError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("start", "resume", "abort", "status"))
    parser.add_argument(
        "env", help="environment name (a key under `environments` in delivery.yaml)"
    )
    parser.add_argument("--ref", help="image reference to roll out (start)")
    parser.add_argument(
        "--set-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for the new version's containers (repeatable)",
    )
    parser.add_argument("--reason", default="aborted by request", help="why (abort)")
    add_delivery_argument(parser)
    add_json_argument(parser)


def _env_pairs(items: list[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LockgateError(f"--set-env {item!r}: expected KEY=VALUE")
        pairs[key] = value
    return pairs


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.environment import open_environment

    rollouts = open_environment(args.env, args.delivery, quiet=args.json)
    if args.action == "status":
        record = rollouts.status().as_record()
        if args.json:
            print(json.dumps(record, indent=2, sort_keys=True))
        else:
            stable = (record["stable"] or {}).get("ref", "-")
            canary = (record["canary"] or {}).get("ref", "-")
            print(
                f"{args.env}: {record['phase']}; stable {stable}; candidate {canary} "
                f"at {record['weight']}%; {record['reason']}".rstrip("; ")
            )
        return 0
    if args.action == "start":
        if not args.ref:
            raise LockgateError("lockgate rollout start: --ref IMAGE is required")
        result = rollouts.start(args.ref, _env_pairs(args.set_env))
    elif args.action == "resume":
        result = rollouts.resume()
    else:
        result = rollouts.abort(args.reason)
    if args.json:
        print(json.dumps(result.as_record(), indent=2, sort_keys=True))
    else:
        print(f"{args.env}: {result.status}: {result.reason}")
    return result.exit_code
