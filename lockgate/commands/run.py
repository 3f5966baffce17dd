"""``lockgate run``: run the pipeline or selected stages."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import git_sha, load_plan, select_stages
from lockgate.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    from lockgate.engine.plan import Plan


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument(
        "--stage",
        action="append",
        default=[],
        metavar="NAME",
        help="run this stage and its upstream (repeatable)",
    )
    parser.add_argument(
        "--only",
        action="store_true",
        help="run just the named stages; upstream outputs come from --upstream-dir or the cache",
    )
    parser.add_argument(
        "--executor",
        choices=["dagger", "docker", "local"],
        default=None,
        help="force an executor (default: dagger if an engine is reachable, "
        "else docker, else local)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="stages run in parallel at most (default: CPU count)",
    )
    parser.add_argument("--no-cache", action="store_true", help="run every stage, reuse nothing")
    parser.add_argument(
        "--upstream-dir",
        type=Path,
        metavar="DIR",
        help="outputs of upstream stages, one sub-folder per stage (CI artifacts)",
    )
    parser.add_argument(
        "--export-dir",
        type=Path,
        metavar="DIR",
        help="copy each stage's outputs to DIR/<stage>/ (for CI artifacts)",
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines on stdout")


def terminal_reporter() -> Any:
    """A live list with timers on a terminal; plain lines in CI logs and pipes."""
    import sys

    from lockgate.engine.events import LineReporter
    from lockgate.engine.live import LiveReporter, wants_live

    if wants_live(sys.stderr) and "NO_COLOR" not in os.environ:
        try:
            return LiveReporter(sys.stderr)
        except ImportError:  # rich is missing: the plain lines still say everything
            pass
    return LineReporter()


def unsealed_caches(plan: Plan, executor: str) -> str:
    """The warning for a run whose outputs are sealed but whose stages' ``caches:`` will not be:
    the Dagger engine keeps them as its own cache volumes, which lockgate cannot seal."""
    stages = [s.name for s in plan.stages if s.caches]
    if not plan.encryption or executor != "dagger" or not stages:
        return ""
    return (
        f"encryption: the caches: of {', '.join(stages)} are the Dagger engine's cache volumes, "
        "kept by the engine between runs and not sealed; run with --executor docker to seal "
        "them, or take caches: off stages whose tools cache data"
    )


def _check_folders(args: argparse.Namespace, selected: Plan) -> None:
    """``--upstream-dir`` must be a folder when a selected stage needs one outside the
    selection (a typo would fail each such stage as "not cached"; a first stage's job has
    none, and CI passes the option all the same); ``--export-dir`` must be a folder or not
    there yet."""
    from lockgate.errors import LockgateError

    upstream, export = args.upstream_dir, args.export_dir
    names = {s.name for s in selected.stages}
    outside = sorted({n for s in selected.stages for n in s.needs} - names)
    if upstream is not None and not upstream.is_dir() and (upstream.exists() or outside):
        what = "not a folder" if upstream.exists() else "no such folder"
        raise LockgateError(
            f"--upstream-dir {upstream}: {what}, and the stages need the outputs of "
            f"{', '.join(outside) or 'no other stage'}; pass the folder that holds one "
            "sub-folder per upstream stage, or leave it out to take them from the cache"
        )
    if export is not None and export.exists() and not export.is_dir():
        raise LockgateError(
            f"--export-dir {export}: a file is there; pass a folder (it is created if missing)"
        )


def run(args: argparse.Namespace) -> int:
    from lockgate import STARTED
    from lockgate.engine.events import Event, JsonReporter
    from lockgate.engine.runner import RunInterrupted, Runner
    from lockgate.engine.workspace import every_stage_cached
    from lockgate.errors import LockgateError
    from lockgate.executors import choose_executor

    if args.only and not args.stage:
        raise LockgateError("--only needs at least one --stage NAME")
    if args.jobs < 1:
        raise LockgateError(f"--jobs {args.jobs}: must be at least 1")
    project = load_plan(args)
    full = project.plan
    selected = select_stages(full, args.stage, only=args.only)
    _check_folders(args, selected)
    reporter = JsonReporter() if args.json else terminal_reporter()

    def warn(message: str) -> None:
        reporter.emit(Event("warning", data={"message": message}))

    upstream_dir = args.upstream_dir and args.upstream_dir.resolve()
    nothing_to_run = not args.no_cache and every_stage_cached(full, selected, upstream_dir)
    executor = choose_executor(
        args.executor,
        warn,
        probe=not nothing_to_run,
        project=project.root,
        pipeline=full.pipeline_name,
    )
    unsealed = unsealed_caches(selected, executor.name)
    if unsealed:
        warn(unsealed)
    runner = Runner(
        full,
        selected,
        executor,
        secrets=project.secrets,
        reporter=reporter,
        jobs=args.jobs,
        use_cache=not args.no_cache,
        upstream_dir=upstream_dir,
        export_dir=args.export_dir and args.export_dir.resolve(),
        git_sha=git_sha(project.root),
        spec_text=project.spec_text,
        command_started=STARTED,
    )
    try:
        record = runner.run()
    except RunInterrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if record.state == "succeeded" else EXIT_FAILED
