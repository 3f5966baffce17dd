"""File sources: a path, a glob, a partitioned folder, or an fsspec URL.

Local paths are scanned lazily by Polars. A URL (``s3://``, ``gs://``, ``az://``, ``memory://``,
``file://``) goes through fsspec, with the credentials the stage declares as secrets mapped to
the store's options by :mod:`object_stores`, so they never sit in the spec. Folder names of the
form ``key=value`` (hive partitions) become string columns of every row below them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from lockgate.stages.ingest.config import FileSource
from lockgate.stages.ingest.postgres import SourceError

if TYPE_CHECKING:
    import polars as pl

SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}
SUFFIXES |= {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
HEAD_BLOCK = 2**20  # the block an object's head is fetched in, to learn its columns
WILDCARDS = "*?["  # what makes an object-store path a glob (fsspec's glob syntax)


@dataclass(frozen=True)
class Partition:
    """One file of the source: its key (path below the root, which orders partitions) and its
    label (the path a message names it by: workspace-relative, or the URL and the key)."""

    key: str
    label: str
    size: int
    scan: Callable[[], pl.LazyFrame]
    # (schema, chunk_bytes) -> the rows in frames of about chunk_bytes (a budgeted read)
    chunks: Callable[[pl.Schema, int], Iterator[pl.DataFrame]] | None = None
    # the columns from the head of the file only (an object, which ``scan`` fetches whole)
    columns: Callable[[], pl.Schema] | None = None


Problem = Callable[[BaseException], str]


class ObjectOpener(Protocol):
    """Opens an object for reading, fetched in blocks of ``block_size`` (the store's default
    without one)."""

    def __call__(self, block_size: int | None = None) -> Any: ...


@contextmanager
def reading(label: str, problem: Problem | None = None) -> Iterator[None]:
    """Polars' and the OS's errors while the file ``label`` is read, as one SourceError naming
    it: a bad file stops the run before anything of it is written. For an object, ``problem``
    words any other failure (the store's SDK raises its own types, whose text may name a
    secret endpoint) as one line without a credential."""
    import polars as pl

    try:
        yield
    except SourceError:
        raise
    except Exception as exc:
        # a parser's complaint about the bytes, not a failure to fetch them
        data = isinstance(exc, pl.exceptions.PolarsError | ValueError) and not isinstance(
            exc, OSError
        )
        if problem is not None and not data:
            raise SourceError(f"cannot read {label}: {problem(exc)}") from None
        if not data and not isinstance(exc, OSError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceError(f"cannot read {label}: {first}") from None


def _chunked(
    fmt: str,
    source: str | ObjectOpener,
    label: str,
    hive: dict[str, str],
    problem: Problem | None = None,
) -> Callable[[pl.Schema, int], Iterator[pl.DataFrame]]:
    from lockgate.stages.ingest.chunks import file_chunks

    def chunks(schema: pl.Schema, chunk_bytes: int) -> Iterator[pl.DataFrame]:
        # an object is fetched in blocks of one chunk: the store's default block (50 MiB for
        # S3) would be read ahead whole, past the budget
        opened = source if isinstance(source, str) else partial(source, block_size=chunk_bytes)
        with reading(label, problem):
            yield from file_chunks(fmt, opened, label, schema, chunk_bytes, hive)

    return chunks


def _columns(
    fmt: str, opener: ObjectOpener, label: str, hive: dict[str, str], problem: Problem
) -> Callable[[], pl.Schema]:
    """An object's columns (and its hive columns, as ``scan`` adds them) from its head alone:
    a budgeted read must not fetch a whole object to learn its columns."""

    def columns() -> pl.Schema:
        import polars as pl

        from lockgate.stages.ingest.chunks import head_columns

        with reading(label, problem):
            own = head_columns(fmt, partial(opener, block_size=HEAD_BLOCK))
        rowless = bool(own) and all(dtype == pl.Null for dtype in own.values())
        return own | pl.Schema(dict.fromkeys(hive, pl.Null if rowless else pl.String))

    return columns


def _hive(rel: str) -> dict[str, str]:
    parts = PurePosixPath(rel).parts[:-1]
    return dict(p.split("=", 1) for p in parts if "=" in p)


def _reader(
    fmt: str,
    opener: str | Callable[[], Any],
    label: str,
    hive: dict[str, str],
    problem: Problem | None = None,
) -> Any:
    """A scan of one file: a local path scanned lazily, or an fsspec opener read whole."""

    def scan() -> pl.LazyFrame:
        import polars as pl

        with reading(label, problem):
            if isinstance(opener, str):
                lf = {
                    "parquet": pl.scan_parquet,
                    "csv": lambda p: pl.scan_csv(p, try_parse_dates=True),
                    "jsonl": pl.scan_ndjson,
                }[fmt](opener)
            else:
                with opener() as handle:
                    data = handle.read()
                lf = {
                    "parquet": pl.read_parquet,
                    "csv": lambda b: pl.read_csv(b, try_parse_dates=True),
                    "jsonl": pl.read_ndjson,
                }[fmt](data).lazy()
        return lf.with_columns(pl.lit(v).alias(k) for k, v in hive.items()) if hive else lf

    return scan


def _format(src: FileSource, name: str) -> str:
    if src.format != "auto":
        return src.format
    fmt = SUFFIXES.get(PurePosixPath(name).suffix.lower())
    if fmt is None:
        raise SourceError(
            f"with.source.files.path: cannot tell the format of {name!r}: "
            "set `format: parquet|csv|jsonl`"
        )
    return fmt


def partitions(
    src: FileSource, resolve: Callable[[str], Path], secret: Callable[[str], str]
) -> list[Partition]:
    """Every file of the source, ordered by key."""
    if "://" in src.path:
        return _remote(src, secret, resolve)
    from lockgate.stages.data_check.source import DataSourceError, locate

    try:
        dataset = locate(
            src.path, resolve, None if src.format == "auto" else src.format, "source.files.path"
        )
    except DataSourceError as exc:
        raise SourceError(str(exc)) from None
    found = []
    for f in dataset.files:
        rel = f.relative_to(dataset.root).as_posix() if f != dataset.root else f.name
        fmt = _format(src, f.name)
        hive = _hive(rel)
        label = _shown(f, resolve)
        found.append(
            Partition(
                rel,
                label,
                f.stat().st_size,
                _reader(fmt, str(f), label, hive),
                _chunked(fmt, str(f), label, hive),
            )
        )
    return sorted(found, key=lambda p: p.key)


def _shown(file: Path, resolve: Callable[[str], Path]) -> str:
    """``file`` as lockgate.yaml would name it: workspace-relative, or ``in:STAGE/...``."""
    for prefix in ("", "in:"):
        try:
            return prefix + file.relative_to(resolve(prefix or ".")).as_posix()
        except ValueError:
            continue
    return str(file)


def _remote(
    src: FileSource, secret: Callable[[str], str], resolve: Callable[[str], Path]
) -> list[Partition]:
    from lockgate.stages.ingest.object_stores import (
        credential_values,
        filesystem_options,
        missing_bucket,
        missing_package,
        open_filesystem,
    )
    from lockgate.stages.ingest.store_errors import read_problem, store_problem

    values = credential_values(src.credentials, secret)
    opts = filesystem_options(src.path, values)
    if src.ca_file:
        opts["ca_file"] = str(resolve(src.ca_file))
    fs: Any = None
    found: list[Partition] = []

    def problem(exc: BaseException) -> str:
        return read_problem(exc, values, bool(opts.get("anon")), src.credentials)

    try:
        fs, root = open_filesystem(src.path, opts)
        sizes, base = _listing(fs, root)
        for name, size in sorted(sizes.items()):
            rel = str(PurePosixPath(name).relative_to(base)) if base else PurePosixPath(name).name
            fmt = _format(src, name)

            opener: ObjectOpener = partial(_open_object, fs, name)
            label, hive = f"{src.path} ({rel})", _hive(rel)
            found.append(
                Partition(
                    rel,
                    label,
                    size,
                    _reader(fmt, opener, label, hive, problem),
                    _chunked(fmt, opener, label, hive, problem),
                    _columns(fmt, opener, label, hive, problem),
                )
            )
        absent = None if found else missing_bucket(fs, src.path, root)
    except ImportError:
        raise SourceError(f"with.source.files.path: {missing_package(src.path)}") from None
    except SourceError:
        raise
    except FileNotFoundError as exc:  # a GCS listing of a missing bucket says only "not found"
        absent = None if fs is None else _quietly(missing_bucket, fs, src.path, root)
        if absent is None:
            raise SourceError(
                f"with.source.files.path: cannot list {src.path}: "
                + store_problem(exc, values, bool(opts.get("anon")), src.credentials)
            ) from None
    except Exception as exc:  # the store's SDK raises its own types; each becomes one line
        raise SourceError(
            f"with.source.files.path: cannot list {src.path}: "
            + store_problem(exc, values, bool(opts.get("anon")), src.credentials)
        ) from None
    if absent is not None:
        raise SourceError(
            f"with.source.files.path: cannot list {src.path}: bucket {absent!r} does not exist; "
            "check the bucket's name (and endpoint_url for an S3-compatible store)"
        )
    if not found:
        raise SourceError(f"with.source.files.path: no data files at {src.path!r}")
    return found


def _open_object(fs: Any, name: str, block_size: int | None = None) -> Any:
    """``name`` opened for reading, fetched in blocks of ``block_size`` (None: the store's)."""
    return fs.open(name, "rb", block_size=block_size)


def _quietly(check: Callable[..., str | None], *args: Any) -> str | None:
    """``check(*args)``, or None when the check itself fails (the first error is reported)."""
    try:
        return check(*args)
    except Exception:
        return None


def _listing(fs: Any, root: str) -> tuple[dict[str, int], str]:
    """The data files under ``root`` (a folder, a glob or one object) with their sizes, and the
    base of their keys. One listing gives every size, and what it says of each object serves
    that object's lookup when it is opened: no request per object but its fetch."""
    from lockgate.stages.ingest.object_stores import remember_listing

    if fs.isdir(root):
        found = fs.find(root, detail=True)
        base = root
    elif any(c in root for c in WILDCARDS):
        found = fs.glob(root, detail=True)
        base = _glob_base(root)
    else:
        return {root: int(fs.info(root).get("size") or 0)}, ""
    remember_listing(fs, found)
    return {
        name: int(info.get("size") or 0)
        for name, info in found.items()
        if info.get("type") != "directory"  # a glob matches folders too; only objects are data
        and (base != root or PurePosixPath(name).suffix.lower() in SUFFIXES)
    }, base


def _glob_base(root: str) -> str:
    """The folder a glob's keys are named relative to: the one above its first wildcard (``*``,
    ``?`` or ``[``), as for a local glob. Keys keep the folders below it, so hive columns are
    read and two objects of one name in two folders keep two keys, in order."""
    first = min(root.index(c) for c in WILDCARDS if c in root)
    return str(PurePosixPath(root[:first]).parent)
