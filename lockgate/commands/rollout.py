"""``lockgate rollout ACTION ENV``: gated canary / blue-green rollouts.

Actions: ``start --ref IMAGE``, ``resume``, ``promote [--full]``, ``retry``, ``abort``,
``status [--watch]``.

Exit codes: 0 done or waiting (completed, deployed, rolled back, *paused*), 1 aborted by
analysis, 2 bad input. A paused rollout exits 0 with its state printed (``paused: ...``; in
``--json``, ``"status": "paused"``), so a CI job that started it stays green and a person resumes
it. ``--json`` prints the outcome, measurements included; ``status --watch --json`` prints one
JSON line per change.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from lockgate.commands._options import add_delivery_argument, add_json_argument
from lockgate.errors import EXIT_FAILED, EXIT_OK, LockgateError

pause = time.sleep  # between polls of `status --watch`; tests replace it with a clock of their own
ACTIONS = ("start", "resume", "promote", "retry", "abort", "status")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument(
        "env", help="environment name (listed under `environments` in lockgate.yaml)"
    )
    parser.add_argument("--ref", help="image reference to roll out (start)")
    parser.add_argument(
        "--set-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for the new version's containers (repeatable)",
    )
    parser.add_argument("--reason", default=None, help="why (abort, promote --full)")
    parser.add_argument(
        "--full",
        action="store_true",
        help="promote: skip the remaining steps and make the candidate stable now (recorded)",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="status: print each change until the rollout is no longer progressing",
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="status --watch: poll period"
    )
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


def status_line(env: str, record: dict[str, Any]) -> str:
    stable = (record["stable"] or {}).get("ref", "-")
    canary = (record["canary"] or {}).get("ref", "-")
    return (
        f"{env}: {record['phase']}; stable {stable}; candidate {canary} "
        f"at {record['weight']}%; {record['reason']}"
    ).rstrip("; ")


def _status(rollouts: Any, args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise LockgateError(f"--interval {args.interval}: expected a positive number of seconds")
    seen: tuple[Any, ...] | None = None
    while True:
        record = rollouts.observe().as_record()
        fields = ("phase", "step", "weight", "reason")
        key = (*(record[f] for f in fields), len(record["measurements"]))
        if key != seen:
            seen = key
            if args.json:
                print(json.dumps(record, sort_keys=True, indent=None if args.watch else 2))
            else:
                print(status_line(args.env, record), flush=True)
        if not args.watch or record["phase"] != "progressing":
            return EXIT_FAILED if args.watch and record["phase"] == "aborted" else EXIT_OK
        pause(args.interval)


def run(args: argparse.Namespace) -> int:
    from lockgate.delivery.environment import open_environment

    rollouts = open_environment(args.env, args.delivery, quiet=args.json)
    if args.action == "status":
        return _status(rollouts, args)
    if args.full and args.action != "promote":
        raise LockgateError("--full applies to `lockgate rollout promote` only")
    if args.action == "start":
        if not args.ref:
            raise LockgateError("lockgate rollout start: --ref IMAGE is required")
        result = rollouts.start(args.ref, _env_pairs(args.set_env))
    elif args.action == "resume" or (args.action == "promote" and not args.full):
        result = rollouts.resume()
    elif args.action == "promote":
        result = rollouts.promote_full(args.reason or "promoted in full by request")
    elif args.action == "retry":
        result = rollouts.retry()
    else:
        result = rollouts.abort(args.reason or "aborted by request")
    if args.json:
        print(json.dumps(result.as_record(), indent=2, sort_keys=True))
    else:
        print(f"{args.env}: {result.status}: {result.reason}")
    return int(result.exit_code)
