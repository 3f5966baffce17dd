"""``lockgate generate {github,gitlab,jenkins,all}``: parse flags, render, then check/update/write.

Everything is rendered before anything is written, so a bad spec or a failed merge writes
nothing. Writes are atomic (temp file + ``os.replace``).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from lockgate.commands._options import add_spec_argument
from lockgate.errors import EXIT_FAILED, EXIT_OK, LockgateError
from lockgate.generator.rendered import Rendered

CHOICES = ("github", "gitlab", "jenkins", "all")


@dataclass(frozen=True)
class FileOutcome:
    path: Path
    status: Literal["written", "unchanged", "stale"]
    diff: str = ""


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
        "--actions",
        metavar="OWNER/REPO@SHA|./",
        help="GitHub: call lockgate's actions/stage from here instead of spelling out steps",
    )


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    stdout = stdout or sys.stdout
    root = (args.root or Path.cwd()).resolve()
    files = render_files(
        provider=args.provider,
        spec=args.spec,
        root=root,
        out=args.out,
        build_image=args.build_image,
        actions=args.actions,
    )
    planned = [(root / f.path, _target_text(root / f.path, f, args.update)) for f in files]
    outcomes = [_apply(path, text, check=args.check, root=root) for path, text in planned]
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


def render_files(
    *,
    provider: str,
    spec: Path | None,
    root: Path,
    out: str | None = None,
    build_image: bool = True,
    actions: str | None = None,
) -> list[Rendered]:
    from lockgate.generator.model import build_model
    from lockgate.generator.providers import PROVIDERS
    from lockgate.spec.loader import find_spec, load_spec

    if provider == "all" and out:
        raise LockgateError("--out names one file; use it with one provider, not `all`")
    if actions is not None:
        _check_actions_ref(actions)
    spec_path = (spec or find_spec(root)).resolve()
    pipeline = load_spec(spec_path)
    try:
        rel_spec = spec_path.relative_to(root.resolve()).as_posix()
    except ValueError:
        raise LockgateError(f"--spec {spec_path} is outside the repository root {root}") from None
    ci = build_model(pipeline, spec_path=rel_spec, build_image=build_image)
    names = [p for p in PROVIDERS] if provider == "all" else [provider]
    files: list[Rendered] = []
    for name in names:
        module = PROVIDERS[name]
        options = {"actions": actions} if name == "github" else {}
        files.extend(module.render(ci, out or module.DEFAULT_OUT, **options))
    return files


def _check_actions_ref(ref: str) -> None:
    import re

    if ref.startswith("./"):
        return
    if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref):
        raise LockgateError(
            f"--actions {ref!r}: give OWNER/REPO@<full 40-character commit SHA> or ./ "
            "(third-party actions are pinned by commit)"
        )


def _target_text(path: Path, rendered: Rendered, update: bool) -> str:
    if not update or rendered.format == "script" or not path.is_file():
        return rendered.text
    from lockgate.generator.merge import UPDATERS

    return UPDATERS[rendered.format](path.read_text(encoding="utf-8"), rendered.text, str(path))


def _apply(path: Path, text: str, *, check: bool, root: Path) -> FileOutcome:
    current = path.read_text(encoding="utf-8") if path.is_file() else None
    if current == text:
        return FileOutcome(path, "unchanged")
    if check:
        rel = path.relative_to(root).as_posix()
        diff = "".join(
            difflib.unified_diff(
                (current or "").splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"a/{rel}" if current is not None else "/dev/null",
                tofile=f"b/{rel}",
            )
        )
        return FileOutcome(path, "stale", diff)
    _write_atomic(path, text, executable=path.suffix == ".sh")
    return FileOutcome(path, "written")


def _write_atomic(path: Path, text: str, *, executable: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o755 if executable else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
