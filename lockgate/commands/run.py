"""``lockgate run``: run the pipeline or selected stages."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import git_sha, load_plan
from lockgate.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK


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


def run(args: argparse.Namespace) -> int:
    from lockgate.engine.events import Event, JsonReporter, LineReporter
    from lockgate.engine.runner import RunInterrupted, Runner
    from lockgate.errors import LockgateError
    from lockgate.executors import choose_executor

    if args.only and not args.stage:
        raise LockgateError("--only needs at least one --stage NAME")
    if args.jobs < 1:
        raise LockgateError(f"--jobs {args.jobs}: must be at least 1")
    project = load_plan(args)
    reporter = JsonReporter() if args.json else LineReporter()
    full = project.plan
    selected = full.select(args.stage, only=args.only) if args.stage else full

    def warn(message: str) -> None:
        reporter.emit(Event("warning", data={"message": message}))

    executor = choose_executor(
        args.executor, warn, project=project.root, pipeline=full.pipeline_name
    )
    runner = Runner(
        full,
        selected,
        executor,
        secrets=project.secrets,
        reporter=reporter,
        jobs=args.jobs,
        use_cache=not args.no_cache,
        upstream_dir=args.upstream_dir and args.upstream_dir.resolve(),
        export_dir=args.export_dir and args.export_dir.resolve(),
        git_sha=git_sha(project.root),
        spec_text=project.spec_text,
    )
    try:
        record = runner.run()
    except RunInterrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if record.state == "succeeded" else EXIT_FAILED
