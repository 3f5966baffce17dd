"""``lockgate plan``: the DAG in run order, and what a ``lockgate run`` would do with each stage."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from lockgate.commands._options import add_json_argument, add_spec_argument
from lockgate.commands._project import load_plan

if TYPE_CHECKING:
    from lockgate.engine.workspace import KeyResolver


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument("--stage", action="append", default=[], metavar="NAME")
    parser.add_argument("--only", action="store_true")
    add_json_argument(parser)


def run(args: argparse.Namespace) -> int:
    from lockgate.engine.secrets import missing_secrets
    from lockgate.engine.workspace import KeyResolver

    project = load_plan(args)
    full = project.plan
    selected = full.select(args.stage, only=args.only) if args.stage else full
    files = project.workspace.files()
    keys = KeyResolver(full, project.workspace, files, None)
    cache = project.workspace.cache
    rows: list[dict[str, Any]] = []
    will_run: set[str] = set()
    for spec in selected.stages:
        if will_run & set(spec.needs):
            status, key = "run (upstream runs)", ""
        else:
            key = keys.key(spec) if all(_known(keys, n) for n in spec.needs) else ""
            entry = cache.get(key) if key and spec.use_cache else None
            if entry is not None:
                keys.outputs[spec.name] = (entry.outputs_digest, entry.out)
                status = "cached"
            else:
                status = "run"
        if status != "cached":
            will_run.add(spec.name)
        rows.append(
            {
                "stage": spec.name,
                "needs": list(spec.needs),
                "status": status,
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
    print(f"{len(will_run)} to run, {len(rows) - len(will_run)} cached")
    return 0


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


def _known(keys: KeyResolver, name: str) -> bool:
    from lockgate.errors import LockgateError

    try:
        keys.upstream_output(name)
    except LockgateError:
        return False
    return True
