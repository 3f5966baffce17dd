"""``lockgate rollout ACTION ENV``: gated canary / blue-green rollouts.

Actions: ``start --ref IMAGE``, ``resume``, ``promote [--full]``, ``retry``, ``abort``,
``status [--watch]``.

Every action but ``status`` changes traffic or ends a canary: like the other release commands it
first proves who acts (``--identity-key``, ``--signed-statement`` with ``--print-statement``, or
the CI's OIDC token) and records the decision, with its proof, in the release ledger; what the
analysis then decides by itself is recorded as lockgate's (``delivery/rollout/recording.py``).

An image enters an environment that ``lockgate.yaml`` gates (verify policy, previous environment,
approvals, four eyes, residency) only through ``lockgate promote``, whose ``rollout`` deployer
runs the canary: there ``start`` and ``retry`` are refused as bad input, before anything is
proven, printed or recorded, with the promote command to run instead (docs/gates.md).

Exit codes: 0 done or waiting (completed, deployed, rolled back, *paused*), 1 aborted by
analysis, identity not proven or the rollout moved on since it was signed, 2 bad input. A paused
rollout exits 0 with its state printed (``paused: ...``; in ``--json``, ``"status": "paused"``),
so a CI job that started it stays green and a person resumes it. ``--json`` prints the outcome,
measurements included, and the ledger entries written (``seqs``); ``status --watch --json``
prints one JSON line per change.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

from lockgate.commands._options import add_delivery_argument
from lockgate.commands._release import add_release_arguments
from lockgate.errors import EXIT_FAILED, EXIT_OK, LockgateError

if TYPE_CHECKING:
    from lockgate.commands._project import Project
    from lockgate.delivery.rollout.decision import RolloutDecision
    from lockgate.delivery.rollout.recording import RecordedDecision
    from lockgate.delivery.rollout.rollouts import RolloutResult, Rollouts
    from lockgate.delivery.rollout.state import RolloutState

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
    add_release_arguments(parser)


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


def _decision(args: argparse.Namespace, rollouts: Rollouts, state: RolloutState) -> RolloutDecision:
    """What the action decides on ``state`` (what its statement names)."""
    from lockgate.delivery.rollout.decision import decision_for

    pairs = tuple(sorted(_env_pairs(args.set_env).items()))
    return decision_for(
        args.action, state, rollouts.settings, ref=args.ref, env_pairs=pairs, full=args.full
    )


def _around_gates(project: Project, args: argparse.Namespace, signed: RolloutDecision) -> None:
    """Refuse ``start`` and ``retry``, which bring an image in, where the spec gates the
    environment: the image enters through ``lockgate promote``, which checks the gates, records
    the release the next environment's gate and ``rollback`` read, and runs the canary."""
    if args.action not in ("start", "retry"):
        return
    from lockgate.commands._project import _display_path
    from lockgate.delivery.promotion.rules import promotion_gates
    from lockgate.spec.yamlpos import load_yaml

    gates = promotion_gates(project.pipeline, args.env)
    if not gates:
        return
    listed = project.pipeline.environments
    index = [e.name for e in listed].index(args.env)
    _, positions = load_yaml(project.spec_text, _display_path(project.spec_path))
    where = positions.where(("environments", index))
    canary = "runs its canary" + (
        "" if listed[index].deployer == "rollout" else " once the entry says `deployer: rollout`"
    )
    raise LockgateError(
        f"{where}: {args.env} is gated ({', '.join(gates)}): `lockgate rollout {args.action}` "
        f"would go around the gates; run `lockgate promote {args.env} --image {signed.image}`, "
        f"which checks them, records the release and {canary}"
    )


def _act(
    args: argparse.Namespace, rollouts: Rollouts, record: RecordedDecision | None
) -> RolloutResult:
    """The action; under ``record``'s check and entry when the project keeps a ledger."""
    kw: dict[str, Any] = {"decide": record.decide} if record is not None else {}
    if args.action == "start":
        return rollouts.start(args.ref, _env_pairs(args.set_env), **kw)
    if args.action == "resume" or (args.action == "promote" and not args.full):
        return rollouts.resume(**kw)
    if args.action == "promote":
        return rollouts.promote_full(args.reason or "promoted in full by request", **kw)
    if args.action == "retry":
        return rollouts.retry(**kw)
    return rollouts.abort(args.reason or "aborted by request", **kw)


def run(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.commands._release import (
        checkpoint_if_due,
        open_store,
        print_statement,
        proven_actor,
    )
    from lockgate.delivery.environment import open_environment
    from lockgate.delivery.rollout.recording import RecordedDecision

    rollouts = open_environment(args.env, args.delivery, quiet=args.json)
    if args.action == "status":
        return _status(rollouts, args)
    if args.full and args.action != "promote":
        raise LockgateError("--full applies to `lockgate rollout promote` only")
    if args.action == "start" and not args.ref:
        raise LockgateError("lockgate rollout start: --ref IMAGE is required")
    signed = _decision(args, rollouts, rollouts.status())  # nothing to do: refused here
    if args.spec is None and not _spec_here():
        # a delivery.yaml project: no lockgate.yaml, so no ledger and no identity policy to
        # prove anything against; the rollout record alone keeps what happened
        result = _act(args, rollouts, None)
        _print_result(args, result)
        print(
            f"lockgate: {signed.op} was not proven or recorded: no lockgate.yaml here keeps a "
            "release ledger (pass --spec PATH to record it in one)",
            file=sys.stderr,
        )
        return int(result.exit_code)
    project = load_project(args)
    _around_gates(project, args, signed)
    store = open_store(project, args)
    if args.print_statement:
        return print_statement(store, signed.op, args.env, signed.digest, signed.terms)
    actor = proven_actor(project, args, store, signed.op, args.env, signed.digest, signed.terms)
    record = RecordedDecision(
        store, args.env, actor, signed, lambda state: _decision(args, rollouts, state), args.reason
    )
    result = _act(args, rollouts, record)
    system = record.outcome(result)
    checkpoint_if_due(project, args, store)
    if args.json:
        seqs = [s for s in (record.seq, system.seq if system else None) if s is not None]
        print(json.dumps({**result.as_record(), "seqs": seqs}, indent=2, sort_keys=True))
    else:
        print(f"{args.env}: {result.status}: {result.reason}")
        print(f"entry {record.seq}: {signed.op} by {actor.name} ({actor.source})")
        if system is not None:
            print(f"entry {system.seq}: the analysis {result.status} it: {result.reason}")
    return int(result.exit_code)


def _spec_here() -> bool:
    from lockgate.errors import SpecError
    from lockgate.spec.loader import find_spec

    try:
        find_spec()
    except SpecError:
        return False
    return True


def _print_result(args: argparse.Namespace, result: RolloutResult) -> None:
    if args.json:
        print(json.dumps({**result.as_record(), "seqs": []}, indent=2, sort_keys=True))
    else:
        print(f"{args.env}: {result.status}: {result.reason}")
