"""Where a dataset's files are, and how to scan them lazily.

A dataset is named in ``with:`` by one file, a directory of partitions (read recursively) or a
glob; paths go through :meth:`StageContext.resolve`, so ``in:STAGE/...`` names an upstream
output. Scans are lazy: nothing is read until the compiled checks are collected.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.errors import LockgateError

if TYPE_CHECKING:
    import polars as pl

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class DataSourceError(LockgateError):
    """A dataset named in ``with:`` cannot be found or read."""


@dataclass(frozen=True)
class Dataset:
    """The files of one dataset, in a stable order, and their format."""

    label: str
    files: tuple[Path, ...]
    format: str
    root: Path

    def scan(self) -> pl.LazyFrame:
        import polars as pl

        sources = [str(f) for f in self.files]
        if self.format == "parquet":
            return pl.scan_parquet(sources)
        if self.format == "csv":
            return pl.scan_csv(sources, try_parse_dates=True)
        return pl.scan_ndjson(sources)

    def with_files(self, files: Sequence[Path]) -> Dataset:
        return Dataset(self.label, tuple(files), self.format, self.root)


def _root(path: Path) -> Path:
    """The folder partitions are named relative to: the directory, or a glob's fixed prefix."""
    fixed = Path(
        *[
            part
            for part in path.parts[
                : next(
                    (i for i, part in enumerate(path.parts) if glob.has_magic(part)),
                    len(path.parts),
                )
            ]
        ]
    )
    return fixed if fixed.is_dir() else fixed.parent


def _expand(path: Path) -> list[Path]:
    if glob.has_magic(str(path)):
        return sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith((".", "_"))
        )
    return [path] if path.is_file() else []


def _from_manifest(path: Path) -> list[Path] | None:
    """The parts an ingest stage's ``manifest.json`` lists (digests re-checked), when ``path``
    is that manifest or the folder holding it; None when it is not."""
    manifest = path / "manifest.json" if path.is_dir() else path
    if manifest.name != "manifest.json" or not manifest.is_file():
        return None
    from lockgate.stages.ingest.manifest import manifest_files

    return manifest_files(manifest)


def locate(
    names: str | Sequence[str], resolve: Callable[[str], Path], fmt: str | None, field: str
) -> Dataset:
    """Expand the paths given in ``with.<field>`` into a :class:`Dataset`."""
    label = names if isinstance(names, str) else ", ".join(names)
    files: list[Path] = []
    roots: list[Path] = []
    for name in [names] if isinstance(names, str) else names:
        roots.append(_root(resolve(name)))
        found = _from_manifest(resolve(name))
        if found == []:  # an ingest whose source held no rows: nothing to check is no pass
            raise DataSourceError(
                f"with.{field}: the ingest manifest at {name!r} lists no rows — its source "
                "returned none; check the ingest stage's query, table or files"
            )
        found = found or _expand(resolve(name))
        if not found:
            raise DataSourceError(
                f"with.{field}: no data files at {name!r} — check the path (workspace-relative, "
                "or in:STAGE/... for an upstream output)"
            )
        files.extend(found)
    formats = {fmt} if fmt else {SUFFIXES.get(f.suffix.lower()) for f in files}
    if None in formats or len(formats) != 1:
        raise DataSourceError(
            f"with.{field}: cannot tell one format for {label!r} (found suffixes "
            f"{sorted({f.suffix for f in files})}) — set `format: parquet|csv|jsonl`"
        )
    root = Path(os.path.commonpath([str(r) for r in roots]))
    return Dataset(label, tuple(dict.fromkeys(files)), formats.pop() or "parquet", root)


def collect_all(
    queries: Sequence[pl.LazyFrame], *, streaming: bool, label: str
) -> list[pl.DataFrame]:
    """Run lazy queries together; a read failure becomes a :class:`DataSourceError`."""
    import polars as pl

    try:
        if streaming:
            return pl.collect_all(list(queries), engine="streaming")
        return pl.collect_all(list(queries), engine="auto")
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataSourceError(f"cannot read {label!r}: {first}") from None
