"""``lockgate plan``: the DAG in run order, and what a ``lockgate run`` would do with each stage."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from lockgate.commands._options import add_json_argument, add_spec_argument
from lockgate.commands._project import load_plan, select_stages

if TYPE_CHECKING:
    from lockgate.commands._project import LoadedPlan
    from lockgate.engine.cache import CacheEntry
    from lockgate.engine.sealed_outputs import SealedOutputs

REPLACED = "its cache entry is plaintext, from before `encryption:`: it runs again, stored sealed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="NAME",
        help="plan this stage and its upstream (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="store_true",
        help="plan just the named stages; their upstream outputs must be in the cache",
    )
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.engine.secrets import missing_secrets
    from lockgate.engine.workspace import KeyResolver
    from lockgate.errors import LockgateError

    if args.only and not args.stage:
        raise LockgateError("--only needs at least one --stage NAME")
    project = load_plan(args)
    full = project.plan
    selected = select_stages(full, args.stage, only=args.only)
    files = project.workspace.files()
    cache = project.workspace.cache
    rule = EntryRule(project)
    # an upstream outside the selection (--only) comes from the cache, judged as a run judges it
    keys = KeyResolver(full, project.workspace, files, None, entry_problem=rule)
    rows: list[dict[str, Any]] = []
    will_run: set[str] = set()
    stopped: set[str] = set()  # stages the run fails or skips
    for spec in selected.stages:
        reason, blocked = "", [n for n in spec.needs if n in stopped]
        if blocked:  # as the run: a stage after one that did not succeed is skipped
            status, key, reason = "skipped", "", f"upstream {blocked[0]!r} did not succeed"
        elif will_run & set(spec.needs):
            status, key = "run (upstream runs)", ""
        else:
            problem: str | None
            try:
                key = keys.key(spec)
            except LockgateError as exc:  # an upstream the run cannot take: it fails the stage
                key, problem, entry = "", str(exc), None
            else:
                entry = cache.get(key) if spec.use_cache else None
                problem = rule(entry, spec.name) if entry is not None else None
            if entry is not None and problem is None:
                keys.outputs[spec.name] = (entry.outputs_digest, entry.out)
                status = "cached"
            elif problem and problem != "replace":  # the run fails the stage with these words
                status, reason = "fails", problem
            else:
                status, reason = "run", REPLACED if problem else ""
        if status in ("fails", "skipped"):
            stopped.add(spec.name)
        elif status != "cached":
            will_run.add(spec.name)
        rows.append(
            {
                "stage": spec.name,
                "needs": list(spec.needs),
                "status": status,
                "reason": reason,
                "cache_key": key,
                "gpu": spec.gpu,
                "engine": spec.engine,  # the container engine's socket: root on the host
                "secrets": list(spec.secrets),
                "image": spec.image.tag,
            }
        )
    files.save()
    used = sorted({n for spec in selected.stages if spec.name in will_run for n in spec.secrets})
    for problem in missing_secrets(project.secrets, used, project.root):
        print(f"warning: {problem} (a stage that will run uses it)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["stage"]) for r in rows)
    for i, r in enumerate(rows, 1):
        needs = f"  ← {', '.join(r['needs'])}" if r["needs"] else ""
        key = f"  [{r['cache_key'][:12]}]" if r["cache_key"] else ""
        grants = _grants(r)
        print(f"{i:>3}. {r['stage']:<{width}}  {r['status']:<20}{key}{needs}{grants}")
        if r["reason"]:
            print(f"{'':>5}{r['reason']}")
    counts = [f"{len(will_run)} to run", f"{len(rows) - len(will_run) - len(stopped)} cached"]
    for status in ("fails", "skipped"):  # what the run would not get past
        n = sum(r["status"] == status for r in rows)
        counts += [f"{n} {status}"] if n else []
    print(", ".join(counts))
    return 0


class EntryRule:
    """Whether a run takes a cache entry as a hit: the run's own rule
    (:meth:`~lockgate.engine.sealed_outputs.SealedOutputs.entry_problem`) with the key the run
    resolves, read once the first entry is judged. A key that cannot be read is a warning (the
    run stops on it); then a sealed entry is taken as a hit and a plaintext one as re-made."""

    def __init__(self, project: LoadedPlan) -> None:
        self.project = project
        self._outputs: SealedOutputs | None = None
        self._unreadable = False

    def __call__(self, entry: CacheEntry, name: str) -> str | None:
        """None for a hit, ``"replace"`` for a plaintext entry a run with encryption re-makes
        sealed, else why the run fails the stage."""
        outputs = self._resolve()
        if outputs is not None:
            return outputs.entry_problem(entry, name)
        return "replace" if entry.key_id is None else None

    def _resolve(self) -> SealedOutputs | None:
        from lockgate.engine.sealed_outputs import SealedOutputs, resolve_sealer
        from lockgate.errors import LockgateError

        plan = self.project.plan
        if self._outputs is None and not self._unreadable:
            try:
                sealer, _ = resolve_sealer(
                    plan.encryption,
                    self.project.secrets,
                    self.project.root,
                    dict(plan.encryption_credentials),
                    plan.encryption_ca,
                )
            except LockgateError as exc:
                self._unreadable = True
                print(
                    f"warning: {exc} (a run stops on this; cache entries are not checked "
                    "against the key)",
                    file=sys.stderr,
                )
                return None
            # no run here: only the rule for cache entries is asked of it
            self._outputs = SealedOutputs(sealer, self.project.workspace.runs)
        return self._outputs


def _grants(row: dict[str, Any]) -> str:
    """What a stage is given beyond its folders, so a reviewer sees it before it runs."""
    given = []
    if row["engine"]:
        given.append("ENGINE SOCKET (engine: true: can start containers as root on the host)")
    if row["secrets"]:
        given.append(f"secrets: {', '.join(row['secrets'])}")
    if row["gpu"]:
        given.append(f"gpu: {row['gpu']}")
    return f"  — {'; '.join(given)}" if given else ""
