"""``lockgate generate {github,gitlab,jenkins,all}``: parse flags, render, then check/update/write.

Everything is rendered (:mod:`lockgate.generator.render`) before anything is written
(:mod:`lockgate.generator.files`), so a bad spec or a failed merge writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from lockgate.commands._options import add_spec_argument
from lockgate.errors import EXIT_FAILED, EXIT_OK

CHOICES = ("github", "gitlab", "jenkins", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider", choices=CHOICES, help="CI provider to generate for")
    add_spec_argument(parser)
    parser.add_argument("--out", help="output path (default per provider); not with `all`")
    parser.add_argument(
        "--root", type=Path, help="repository root that paths are relative to (default: cwd)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff if a file is stale"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge into the existing file, keeping its comments and the jobs/keys you added",
    )
    parser.add_argument(
        "--no-image",
        dest="build_image",
        action="store_false",
        help="shell-runner mode: no image job, jobs run on runners that already have lockgate",
    )
    parser.add_argument(
        "--install",
        metavar="SOURCE",
        help="where CI jobs install lockgate from: lockgate==VERSION (default: this version), "
        "git+https://HOST/REPO@<40-hex commit>, or ./DIR of this repository",
    )
    parser.add_argument(
        "--actions",
        metavar="OWNER/REPO@SHA|./",
        help="GitHub: call lockgate's actions/stage from here instead of spelling out steps",
    )
    parser.add_argument(
        "--component",
        metavar="HOST/PATH/lockgate@VERSION",
        help="GitLab: include lockgate's CI/CD component instead of writing its hidden jobs",
    )


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    from lockgate.generator.files import apply_file, target_text
    from lockgate.generator.render import render_files

    stdout = stdout or sys.stdout
    root = (args.root or Path.cwd()).resolve()
    files = render_files(
        provider=args.provider,
        spec=args.spec,
        root=root,
        out=args.out,
        build_image=args.build_image,
        actions=args.actions,
        component=args.component,
        install=args.install,
    )
    planned = [(root / f.path, target_text(root / f.path, f, args.update)) for f in files]
    outcomes = [apply_file(path, text, check=args.check, root=root) for path, text in planned]
    for outcome in outcomes:
        rel = outcome.path.relative_to(root)
        if outcome.status == "stale":
            stdout.write(outcome.diff)
            print(
                f"{rel}: stale; run `lockgate generate {args.provider}` to refresh", file=sys.stderr
            )
        elif outcome.status == "written":
            print(f"wrote {rel}", file=stdout)
    return EXIT_FAILED if any(o.status == "stale" for o in outcomes) else EXIT_OK
