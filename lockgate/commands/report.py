"""``lockgate report``: print (or write) the collected Markdown report of a run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lockgate.commands._options import add_spec_argument
from lockgate.errors import LockgateError
from lockgate.report import GITHUB_COMMENT_LIMIT, StageRecord, collect_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    parser.add_argument(
        "run_dir",
        type=Path,
        nargs="?",
        default=None,
        help="the run folder (holds <stage>/out/, or <stage>/ as CI exports it); "
        "default: the project's latest run",
    )
    parser.add_argument(
        "--stage",
        dest="stages",
        action="append",
        default=None,
        metavar="NAME",
        help="a stage to include, in order (repeat); default: every stage folder in the run, "
        "in the run's order (by name when the run left no record)",
    )
    parser.add_argument(
        "--title", default="lockgate run", help="the report's heading (default: lockgate run)"
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="FILE",
        help="write here instead of standard output",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=GITHUB_COMMENT_LIMIT,
        metavar="N",
        help=f"cap on the document's length (default {GITHUB_COMMENT_LIMIT}, "
        "GitHub's comment limit)",
    )
    parser.add_argument(
        "--github-summary",
        action="store_true",
        help="also append to the file named by GITHUB_STEP_SUMMARY",
    )
    parser.add_argument(
        "--artifact-url",
        default=None,
        metavar="URL",
        help="base URL the run folder's files are served under; relative links become "
        "absolute links there (default: charts inline, other files named)",
    )
    parser.add_argument(
        "--post",
        choices=("github", "gitlab"),
        default=None,
        help="post as the one lockgate comment of this pull/merge request, updating it on "
        "later runs (GitHub: GITHUB_TOKEN; GitLab: LOCKGATE_GITLAB_TOKEN; "
        "LOCKGATE_COMMENT_AUTHOR: the account a token that may not read GET /user comments as)",
    )
    parser.add_argument(
        "--key",
        default="default",
        help="which lockgate comment to keep updated, when one PR has several pipelines "
        "(letters, digits, '.', '_', '-')",
    )


def run(args: argparse.Namespace) -> int:
    if args.max_chars < 1:
        raise LockgateError(f"--max-chars {args.max_chars}: must be at least 1")
    from lockgate.spec.loader import spec_path

    run_dir: Path = args.run_dir or latest_run(spec_path(args.spec).parent)
    if not run_dir.is_dir():
        raise LockgateError(f"{run_dir}: no such run folder")
    records = _records(run_dir)
    stages = args.stages or _stages_in_order(run_dir, records)
    max_chars = args.max_chars
    if args.post:
        from lockgate.report.post import marker

        max_chars -= len(marker(args.key)) + 1  # the comment is the marker, a newline, the text
        if max_chars < 1:
            raise LockgateError(f"--max-chars {args.max_chars}: too small to hold the comment")
    text = collect_report(
        run_dir,
        stages,
        title=args.title,
        max_chars=max_chars,
        artifact_url=args.artifact_url,
        records=records,
    )
    if args.output is not None:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise LockgateError(f"--output {args.output}: cannot write: {exc.strerror}") from None
    else:
        sys.stdout.write(text)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if args.github_summary and summary:
        try:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            raise LockgateError(
                f"GITHUB_STEP_SUMMARY {summary}: cannot write: {exc.strerror}"
            ) from None
    if args.post:
        _post(args.post, text, args.key)
    return 0


def _post(provider: str, text: str, key: str) -> None:
    """Post after the outputs above are written: a refusal leaves them in place."""
    from lockgate.report.post import github_thread, gitlab_thread, post_report

    env = dict(os.environ)
    thread = github_thread(env) if provider == "github" else gitlab_thread(env)
    if thread is None:
        print(
            f"report --post {provider}: not a pull/merge request run; nothing posted",
            file=sys.stderr,
        )
        return
    action, number = post_report(thread, text, key)
    print(f"report: {action} {provider} comment {number}", file=sys.stderr)


def latest_run(project: Path | None = None) -> Path:
    """The newest run of ``project`` (default: the one whose lockgate.yaml is here or in a
    parent folder) that left a record; a record that cannot be read is skipped, with a warning."""
    from lockgate.spec.loader import find_spec

    runs = (project or find_spec().parent) / ".lockgate" / "runs"
    started: list[tuple[str, Path]] = []
    for record in runs.glob("*/run.json"):
        try:
            started.append((str(json.loads(record.read_text())["started"]), record.parent))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"warning: {record}: not a run record ({exc!r:.80}); skipped", file=sys.stderr)
    if not started:
        raise LockgateError(f"no runs in {runs}: run `lockgate run` first, or name a run folder")
    return max(started)[1]


def _records(run_dir: Path) -> dict[str, StageRecord] | None:
    """Each stage of the run's record (``run.json``), in the run's (DAG) order; None without
    one."""
    record = run_dir / "run.json"
    try:
        stages = json.loads(record.read_text(encoding="utf-8"))["stages"]
        return {
            str(s["name"]): StageRecord(
                str(s.get("state") or ""), str(s.get("out") or ""), str(s.get("reason") or "")
            )
            for s in stages
        }
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"warning: {record}: not a run record ({exc!r:.80}); stages by name", file=sys.stderr)
        return None


def _stages_in_order(run_dir: Path, records: dict[str, StageRecord] | None) -> list[str]:
    """Every stage of the run's record, in its order (a cached stage's outputs are in the
    cache, a failed or skipped one is shown as such); without a record, folders by name."""
    if records is not None:
        return list(records)
    return sorted(p.name for p in run_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
