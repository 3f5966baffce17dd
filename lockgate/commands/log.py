"""``lockgate log``: print what a stage printed in a run, opening the log when it is sealed."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.commands._options import add_spec_argument
from lockgate.commands._project import load_plan, other_stages
from lockgate.engine.leftovers import run_over
from lockgate.engine.sealed_log import LOG, SEALED_LOG, OpenedLog, read_log
from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.engine.sealing import Sealer

_POLL_S = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument("stage", help="the stage whose log to print")
    parser.add_argument(
        "--run",
        dest="run_dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="the run folder (.lockgate/runs/ID); default: the project's newest run, also one "
        "still going or cut short",
    )
    parser.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing lines as the stage prints them, until its log is closed or its run "
        "is over",
    )


def run(args: argparse.Namespace) -> int:
    from lockgate.engine.sealed_outputs import resolve_sealer

    loaded = load_plan(args)
    choices = other_stages(loaded.plan, args.stage)
    if choices:
        raise LockgateError(
            f"no stage {args.stage!r} in this run or in {loaded.plan.pipeline_name}; {choices}"
        )
    run_dir = args.run_dir or _newest_run(loaded.root / ".lockgate" / "runs")
    if not run_dir.is_dir():
        raise LockgateError(f"--run {run_dir}: no such run folder")
    stage_dir = run_dir / args.stage
    if not stage_dir.is_dir() and not (args.follow and not run_over(run_dir)):
        logged = sorted(p.name for p in run_dir.iterdir() if p.is_dir())
        raise LockgateError(
            f"{run_dir}: no stage {args.stage!r} in this run (it did not start: skipped, or "
            f"its image failed); logs here: {', '.join(logged) or 'none'}"
        )
    sealer = None
    if (stage_dir / SEALED_LOG).is_file() or (args.follow and loaded.plan.encryption):
        sealer, _ = resolve_sealer(  # only a sealed log needs the key
            loaded.plan.encryption,
            loaded.secrets,
            loaded.root,
            dict(loaded.plan.encryption_credentials),
            loaded.plan.encryption_ca,
        )
    log = _follow(sealer, run_dir, stage_dir) if args.follow else read_log(sealer, stage_dir)
    if not args.follow:
        sys.stdout.buffer.write(log.text)
        sys.stdout.flush()
    if loaded.plan.encryption and not (stage_dir / SEALED_LOG).is_file():
        print(  # a run with encryption seals its logs as it writes them
            f"lockgate: {stage_dir / LOG}: not sealed, though lockgate.yaml sets `encryption:`: "
            "written by a run before encryption was set, or put there since; nothing vouches "
            "for what it says",
            file=sys.stderr,
        )
    if (stage_dir / SEALED_LOG).is_file() and not log.complete:
        print(
            f"lockgate: {stage_dir / SEALED_LOG}: cut short after {log.lines} "
            f"line{'' if log.lines == 1 else 's'}: its run is still going, or ended before it "
            "closed the log (killed)",
            file=sys.stderr,
        )
    return 0


def _follow(sealer: Sealer | None, run_dir: Path, stage_dir: Path) -> OpenedLog:
    """Print the log's lines as they come, until it is closed (a sealed log's last segment)
    or the run is over (its record written, or its process gone)."""
    shown = 0
    while True:
        over = run_over(run_dir)  # before reading: the last read then sees every line
        found = (stage_dir / LOG).is_file() or (stage_dir / SEALED_LOG).is_file()
        log = read_log(sealer, stage_dir) if found or over else None
        if log is not None:
            sys.stdout.buffer.write(log.text[shown:])
            sys.stdout.flush()
            shown = len(log.text)
            if over or ((stage_dir / SEALED_LOG).is_file() and log.complete):
                return log
        time.sleep(_POLL_S)


def _newest_run(runs: Path) -> Path:
    """The newest run folder (run ids sort by their start), with or without its record: a run
    still going, or killed, has none yet."""
    folders = sorted(p for p in runs.glob("*") if p.is_dir()) if runs.is_dir() else []
    if not folders:
        raise LockgateError(f"no runs in {runs}: run `lockgate run` first, or name a run folder")
    return folders[-1]
