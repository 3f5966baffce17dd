"""What the package stage copies into an image stays inside the folder it comes from: a symbolic
link that points outside (``model/weights.pt -> /etc/shadow``, ``code/x.py -> ~/.ssh/id_ed25519``)
is refused, because copying follows it and would put the target's bytes into the image."""

from __future__ import annotations

import os
from pathlib import Path

from lockgate.errors import LockgateError


def refuse_escaping_links(source: Path, root: Path, what: str) -> None:
    """Raise unless every symlink at or under ``source`` resolves inside ``root``."""
    inside = root.resolve()
    candidates = [source]
    if source.is_dir() and not source.is_symlink():
        for folder, dirs, files in os.walk(source, followlinks=False):
            candidates += [Path(folder, name) for name in (*dirs, *files)]
    for path in candidates:
        if not path.is_symlink():
            continue
        target = path.resolve()
        if not target.is_relative_to(inside):
            raise LockgateError(
                f"{what}: {path} is a symbolic link to {target}, outside {root}; "
                "copy the file itself into the folder instead"
            )
