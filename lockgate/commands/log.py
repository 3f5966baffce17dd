"""``lockgate log``: print what a stage printed in a run, opening the log when it is sealed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import load_plan
from lockgate.errors import LockgateError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument("stage", help="the stage whose log to print")
    parser.add_argument(
        "--run",
        dest="run_dir",
        type=Path,
        default=None,
        help="the run folder (.lockgate/runs/ID); default: the project's newest run, also one "
        "still going or cut short",
    )


def run(args: argparse.Namespace) -> int:
    from lockgate.engine.sealed_log import SEALED_LOG, read_log
    from lockgate.engine.sealed_outputs import resolve_sealer

    loaded = load_plan(args)
    run_dir = args.run_dir or _newest_run(loaded.root / ".lockgate" / "runs")
    stage_dir = run_dir / args.stage
    if not stage_dir.is_dir():
        raise LockgateError(f"{run_dir}: no stage {args.stage!r} in this run")
    sealer = None
    if (stage_dir / SEALED_LOG).is_file():  # only a sealed log needs the key
        sealer, _ = resolve_sealer(
            loaded.plan.encryption,
            loaded.secrets,
            loaded.root,
            dict(loaded.plan.encryption_credentials),
        )
    log = read_log(sealer, stage_dir)
    sys.stdout.buffer.write(log.text)
    sys.stdout.flush()
    if not log.complete:
        print(
            f"lockgate: {stage_dir / SEALED_LOG}: cut short after {log.lines} "
            f"line{'' if log.lines == 1 else 's'}: its run is still going, or ended before it "
            "closed the log (killed)",
            file=sys.stderr,
        )
    return 0


def _newest_run(runs: Path) -> Path:
    """The newest run folder (run ids sort by their start), with or without its record: a run
    still going, or killed, has none yet."""
    folders = sorted(p for p in runs.glob("*") if p.is_dir()) if runs.is_dir() else []
    if not folders:
        raise LockgateError(f"no runs in {runs}: run `lockgate run` first, or name a run folder")
    return folders[-1]
