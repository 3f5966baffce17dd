"""``lockgate report``: print (or write) the collected Markdown report of a run."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lockgate.report import GITHUB_COMMENT_LIMIT, collect_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", type=Path, help="the run folder (holds <stage>/out/)")
    parser.add_argument("--stage", dest="stages", action="append", default=None,
                        help="a stage to include, in order (repeat); default: every stage "
                             "folder in the run, sorted")
    parser.add_argument("--title", default="lockgate run")
    parser.add_argument("--output", "-o", type=Path, default=None,
                        help="write here instead of standard output")
    parser.add_argument("--max-chars", type=int, default=GITHUB_COMMENT_LIMIT,
                        help=f"cap on the document's length (default {GITHUB_COMMENT_LIMIT}, "
                             "GitHub's comment limit)")
    parser.add_argument("--github-summary", action="store_true",
                        help="also append to the file named by GITHUB_STEP_SUMMARY")


def report_command(args: argparse.Namespace) -> int:
    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        print(f"lockgate report: {run_dir}: no such run folder", file=sys.stderr)
        return 2
    stages = args.stages or sorted(p.name for p in run_dir.iterdir() if (p / "out").is_dir())
    text = collect_report(run_dir, stages, title=args.title, max_chars=args.max_chars)
    if args.output is not None:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if args.github_summary and summary:
        with open(summary, "a") as fh:
            fh.write(text + "\n")
    return 0
