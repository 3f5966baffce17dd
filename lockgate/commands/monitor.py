"""``lockgate monitor ENV``: watch the live version; roll back on a sustained breach.

Exit 0 when the version stayed healthy for the whole watch, 1 when it breached (and was rolled
back, where a previous version exists). A rollback is lockgate's own decision: where the project
keeps a release ledger (a lockgate.yaml), it is recorded there as a ``rollout`` entry by
``lockgate`` (``actor_source`` ``monitor``) with the breach that decided it.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from lockgate.commands._options import (
    add_delivery_argument,
    add_json_argument,
    add_signing_key_argument,
    add_spec_argument,
)

if TYPE_CHECKING:
    from lockgate.delivery.rollout.monitor import MonitorReport


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
    add_spec_argument(parser)
    add_signing_key_argument(parser, "the ledger entry of a rollback the monitor makes")
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.environment import open_environment
    from lockgate.delivery.rollout.monitor import LiveMonitor

    rollouts = open_environment(args.env, args.delivery, quiet=args.json)
    report = LiveMonitor(rollouts, log=rollouts.log).watch(args.duration, args.windows)
    recorded = _record_rollback(args, report) if report.rollback is not None else None
    if args.json:
        print(
            json.dumps(
                {
                    "reason": report.reason,
                    "windows": [w.as_record() for w in report.windows],
                    "rollback": report.rollback.as_record() if report.rollback else None,
                    "entry": recorded,
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        print(f"{args.env}: {report.reason}")
        if recorded is not None:
            print(f"entry {recorded}: the rollback, recorded as lockgate's decision (monitor)")
    return report.exit_code


def _record_rollback(args: argparse.Namespace, report: MonitorReport) -> int | None:
    """The seq of the ledger entry recording the monitor's rollback; None, said on stderr,
    where it cannot be written (a signed ledger without its key). A project with only a
    delivery.yaml keeps no ledger."""
    from lockgate.commands._project import load_project
    from lockgate.commands._release import notice, open_store
    from lockgate.delivery.ledger.entry import Draft
    from lockgate.errors import LockgateError, SpecError
    from lockgate.spec.loader import find_spec

    result = report.rollback
    assert result is not None
    if args.spec is None:
        try:
            find_spec()
        except SpecError:
            return None
    try:
        project = load_project(args)
        if project.pipeline.policy.ledger.public_key and not args.signing_key:
            raise LockgateError(
                "the ledger is signed (policy.ledger.public_key) and no --signing-key was given"
            )
        bad, back = result.candidate, result.stable
        measured = report.windows[-1].as_record() if report.windows else None
        entry = open_store(project, args).append(
            Draft(
                action="rollout",
                actor="lockgate",
                actor_source="monitor",
                environment=args.env,
                image=back.ref if back else None,
                reason=report.reason,
                details={
                    "op": "monitor rollback",
                    "outcome": result.status,
                    "from": bad.ref if bad else None,
                    "to": back.ref if back else None,
                    **({"measurement": measured} if measured else {}),
                },
            )
        )
    except LockgateError as exc:
        notice(f"{args.env}: the rollback is not in the ledger: {exc}")
        return None
    return entry.seq
