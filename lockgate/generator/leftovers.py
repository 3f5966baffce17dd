"""Side files (setup scripts) that lockgate wrote for an earlier spec and that the current spec
no longer asks for: ``--check`` reports them, writing (and ``--update``) removes them. Only a
file that carries lockgate's header for that CI file counts; a user's file of the same name is
never touched."""

from __future__ import annotations

from pathlib import Path

from lockgate.generator import approvals
from lockgate.generator.rendered import Rendered

_HEAD_BYTES = 4096  # the header is in the first lines


def leftover_files(provider: str, out: str | None, files: list[Rendered], root: Path) -> list[Path]:
    """The generated side files of ``provider`` (or of every provider for ``all``) that exist
    under ``root`` although ``files`` no longer holds them."""
    from lockgate.generator.providers import PROVIDERS

    rendered = {f.path for f in files}
    names = list(PROVIDERS) if provider == "all" else [provider]
    found = []
    for name in names:
        ci_file = out or PROVIDERS[name].DEFAULT_OUT
        for rel in PROVIDERS[name].side_files(ci_file):
            path = root / rel
            if rel not in rendered and approvals.generated_for(_head(path), name, ci_file):
                found.append(path)
    return found


def _head(path: Path) -> str:
    """The first bytes of ``path`` as text; empty when it is no readable UTF-8 file."""
    if not path.is_file() or path.is_symlink():
        return ""
    try:
        with path.open("rb") as handle:
            return handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""
