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
        help="the run folder (.lockgate/runs/ID); default: the project's latest run",
    )


def run(args: argparse.Namespace) -> int:
    from lockgate.commands.report import latest_run
    from lockgate.engine.sealed_outputs import SEALED_LOG, read_log, resolve_sealer

    loaded = load_plan(args)
    run_dir = args.run_dir or latest_run(loaded.root)
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
            loaded.plan.encryption_ca,
        )
    sys.stdout.buffer.write(read_log(sealer, stage_dir))
    sys.stdout.flush()
    return 0
