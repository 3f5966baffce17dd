"""A stage's output folder sealed file by file: how cache entries and exports rest encrypted.

Every file keeps its relative path and is sealed under that path and a random id of the tree
(so two files cannot trade places, and a file from another sealed tree does not authenticate
here); symbolic links are recorded in the index and re-made from it. A sealed index,
``.lockgate-sealed``, lists the files, the links, the tree id and the tree digest of the
plaintext, and is bound to the stage's name. Opening checks the index, refuses a file added or
removed, and opens every file: a tampered, truncated, swapped or wrongly keyed tree is one
:class:`SealError`, never used. The tags vouch for the contents, so opening does not hash the
plaintext again; the index's digest is the one the cache key of every reader uses.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

from lockgate.engine.digests import file_sha256
from lockgate.engine.sealing import MAGIC, Sealer, SealError

INDEX = ".lockgate-sealed"
FORMAT = "lockgate-sealed-tree/1"


def is_sealed(folder: Path) -> bool:
    return (folder / INDEX).is_file()


def sealed_key_id(folder: Path) -> str | None:
    """The key id a sealed tree names in its index header (unauthenticated: for messages)."""
    try:
        with open(folder / INDEX, "rb") as f:
            head = f.read(len(MAGIC) + 16)
    except OSError:
        return None
    return head[len(MAGIC) :].hex() if head.startswith(MAGIC) else None


def seal_tree(
    plain: Path,
    target: Path,
    sealer: Sealer,
    *,
    stage: str,
    digest: str,
    public: frozenset[str] = frozenset(),
    entry: str | None = None,
) -> None:
    """Write ``plain`` sealed into the new folder ``target``. Files named in ``public`` (at the
    top of the folder) are copied as they are, their sha256 kept in the sealed index; ``entry``
    (a cache key) binds the folder to the cache entry it is sealed for."""
    if (plain / INDEX).exists() or (plain / INDEX).is_symlink():
        raise SealError(
            f"{plain / INDEX}: a stage's output may not be named {INDEX} (the name of a sealed "
            f"folder's index); rename it"
        )
    target.mkdir(parents=True)
    tree = os.urandom(16).hex()
    files, links, shown, dirs, executable = [], {}, {}, [], []
    for p in sorted(plain.rglob("*")):
        rel = p.relative_to(plain).as_posix()
        dst = target / rel
        if p.is_symlink():
            links[rel] = os.readlink(p)
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(p), dst)
        elif p.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            dirs.append(rel)  # an empty one would otherwise not come back
        elif p.is_file() and rel in public:
            shutil.copyfile(p, dst)
            shown[rel] = file_sha256(p)
        elif p.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            sealer.seal_file(p, dst, f"{tree}/{rel}")
            if p.stat().st_mode & 0o111:
                executable.append(rel)  # in the index: a mode on disk is anyone's to change
            files.append(rel)
    index = {
        "format": FORMAT,
        "tree": tree,
        "outputs_digest": digest,
        "files": files,
        "links": links,
        "public": shown,
        "dirs": dirs,
        "executable": executable,
        **({"entry": entry} if entry is not None else {}),
    }
    body = json.dumps(index, sort_keys=True).encode()
    (target / INDEX).write_bytes(sealer.seal(body, f"{INDEX}:{stage}"))


def open_index(folder: Path, sealer: Sealer, *, stage: str) -> dict[str, object]:
    """The authenticated index of a sealed tree."""
    where = str(folder / INDEX)
    try:
        sealed = (folder / INDEX).read_bytes()
    except OSError:
        raise SealError(f"{folder}: not a sealed output folder (no {INDEX})") from None
    index = json.loads(sealer.open(sealed, f"{INDEX}:{stage}", where))
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise SealError(f"{where}: unknown sealed-tree format")
    return index


def vouched(
    index: dict[str, object], folder: Path, stage: str, digest: str | None, entry: str | None
) -> None:
    """Refuse an index that vouches for other outputs than the reader expects: a sealed folder
    swapped between two cache entries of one stage, or copied in from elsewhere, opens with
    the right key but holds another run's outputs."""
    bound = index.get("entry")
    other = digest is not None and index.get("outputs_digest") != digest
    if entry is not None and bound is None:  # sealed before entries were bound to their key
        raise SealError(
            f"{folder}: a cache entry of stage {stage!r} sealed without naming its entry (by an "
            "earlier lockgate), so nothing shows it belongs here; re-run stage "
            f"{stage!r} with --no-cache to replace it"
        )
    if other or (entry is not None and bound != entry):
        raise SealError(
            f"{folder}: holds outputs of stage {stage!r} sealed for another cache entry "
            f"({str(bound or index.get('outputs_digest'))[:19]}): it was swapped or copied in; "
            f"re-run stage {stage!r} with --no-cache to replace it"
        )


def open_tree(
    sealed: Path,
    target: Path,
    sealer: Sealer,
    *,
    stage: str,
    digest: str | None = None,
    entry: str | None = None,
    later: frozenset[str] = frozenset(),
) -> str:
    """Open the sealed tree into the new folder ``target``; return its outputs digest. With
    ``digest`` (and ``entry``, for a cache entry's folder) the index must vouch for them.
    ``later``: files at the top of the folder that another program may add after sealing; they
    are left out, not refused."""
    index = open_index(sealed, sealer, stage=stage)
    vouched(index, sealed, stage, digest, entry)
    files, links, shown = _listing(sealed, index, stage, later)
    marked = index.get("executable")  # None: sealed by an earlier lockgate, which kept the mode
    executable = set(marked) if isinstance(marked, list) else None  # on the sealed file
    tmp = target.with_name(f".{target.name}.opening-{uuid.uuid4().hex}")
    tmp.mkdir(parents=True)
    try:
        for rel in index.get("dirs") or ():  # type: ignore[attr-defined]
            (tmp / str(rel)).mkdir(parents=True, exist_ok=True)
        for rel in files:
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            sealer.open_file(sealed / rel, dst, f"{index['tree']}/{rel}", str(sealed / rel))
            if rel in executable if executable is not None else _executable(sealed / rel):
                os.chmod(dst, 0o755)
        for rel, sha256 in shown.items():
            if file_sha256(sealed / rel) != sha256:
                raise SealError(f"{sealed / rel}: altered after sealing; re-run stage {stage!r}")
            shutil.copyfile(sealed / rel, tmp / rel)
        for rel, link in links.items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(link, tmp / rel)
        os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return str(index["outputs_digest"])


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & 0o111)


def _listing(
    sealed: Path, index: dict[str, object], stage: str, later: frozenset[str] = frozenset()
) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The files, links and public files the index lists; refused when the folder holds a
    file the index does not list (other than ``later``), or lacks one it does."""
    files, links = list(index["files"]), dict(index["links"])  # type: ignore[call-overload]
    shown: dict[str, str] = dict(index.get("public") or {})  # type: ignore[call-overload]
    present = {
        p.relative_to(sealed).as_posix()
        for p in sealed.rglob("*")
        if (p.is_file() or p.is_symlink()) and p != sealed / INDEX
    }
    listed = set(files) | set(links) | set(shown)
    extra, missing = present - listed - later, listed - present
    if extra or missing:
        what = f"{sorted(extra)[0]} was added" if extra else f"{sorted(missing)[0]} is missing"
        raise SealError(f"{sealed}: {what} after sealing; re-run stage {stage!r}")
    return files, links, shown
