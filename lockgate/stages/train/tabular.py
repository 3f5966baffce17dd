"""Tabular datasets from Parquet, CSV or NPZ files: features, a target column, and a digest.

Shared by the train and evaluate stages. Parquet needs pyarrow; CSV and NPZ need only numpy,
so a bare GPU box with torch and numpy can still train.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lockgate.errors import LockgateError

if TYPE_CHECKING:
    from lockgate.stages.upstream_files import UpstreamFiles

Source = Any  # a plain data file (a Path, read natively) or a sealed one's whole plaintext


class DatasetError(LockgateError):
    """A data file is missing, unreadable, or lacks the target column."""


@dataclass(frozen=True)
class TabularData:
    features: Any  # numpy float32 array, shape (n, f)
    target: Any  # numpy array, shape (n,): int64 for classes, float32 for regression
    feature_names: tuple[str, ...]
    digest: str  # "sha256:..." of the file bytes
    source: Path
    named: bool = True  # False for an NPZ's ``X`` array: its columns are x0, x1, ... by position


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _binary(source: Source) -> BinaryIO:
    return open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)


def _parquet_table(source: Source, path: Path) -> Any:
    """The whole table. pyarrow gets a path or an in-memory buffer, never a Python file object:
    it reads those natively, on its own threads (through a file object it reads one call at a
    time under the interpreter lock, and its read can still be tidying up when it returns)."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    if isinstance(source, Path):
        return pq.read_table(source)
    return pq.read_table(
        pa.BufferReader(source if isinstance(source, pa.Buffer) else pa.py_buffer(source))
    )


def _columns_from_parquet(source: Source, path: Path) -> dict[str, Any]:
    table = _parquet_table(source, path)
    return {name: table.column(name).to_numpy() for name in table.column_names}


def _columns_from_csv(source: Source, path: Path) -> dict[str, Any]:
    import numpy as np

    with io.TextIOWrapper(_binary(source), newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise DatasetError(f"{path}: empty CSV file, expected a header row")
        rows = list(reader)
    try:
        values = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(header))
    except ValueError as exc:
        raise DatasetError(f"{path}: CSV values must all be numeric ({exc})") from None
    return {name: values[:, i] for i, name in enumerate(header)}


def _columns_from_npz(source: Source, path: Path) -> dict[str, Any]:
    import numpy as np

    with _binary(source) as fh, np.load(fh) as arrays:
        if "X" in arrays and "y" in arrays:
            if not len(arrays["X"]):
                raise DatasetError(f"{path}: no rows (check the upstream stage that wrote it)")
            x, y = arrays["X"], _one_per_row(arrays["y"], "y", path)
            if len(y) != len(x):
                raise DatasetError(
                    f"{path}: X has {len(x)} rows (shape {x.shape}) but y has {len(y)} (shape "
                    f"{y.shape}); the .npz needs one label in y per row of X"
                )
            features = x.reshape(len(x), -1)
            names = [f"x{i}" for i in range(features.shape[1])]
            columns = {n: features[:, i] for i, n in enumerate(names)}
            columns["__y__"] = y
            return columns
        columns = {name: _one_per_row(arrays[name], name, path) for name in arrays.files}
        lengths = {name: len(values) for name, values in columns.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{name} {n}" for name, n in list(lengths.items())[:12])
            raise DatasetError(
                f"{path}: its arrays have different lengths ({shown}); each array is a column "
                "and needs one value per row"
            )
        return columns


def _one_per_row(values: Any, name: str, path: Path) -> Any:
    """``values`` as one value per row: an (n, 1) column is squeezed, any other shape but (n,)
    is a :class:`DatasetError` naming the array and its shape."""
    if values.ndim == 2 and values.shape[1] == 1:
        return values[:, 0]
    if values.ndim != 1:
        hint = "; for one-hot labels store y.argmax(axis=1)" if name == "y" else ""
        raise DatasetError(
            f"{path}: array {name!r} has shape {values.shape}, expected one value per row "
            f"(shape (n,)){hint}"
        )
    return values


def _allocate(size: int) -> Any:
    """A buffer for a sealed file's plaintext: from pyarrow's memory pool when pyarrow is there
    (a Parquet read then uses it in place, and the pool reuses freed memory), else a bytearray."""
    try:
        import pyarrow as pa
    except ImportError:
        return bytearray(size)
    return pa.allocate_buffer(size)


def load_tabular(
    path: Path,
    target: str,
    task: str = "auto",
    upstream: UpstreamFiles | None = None,
    *,
    keys: str = "with",
) -> TabularData:
    """Load ``path``; every column but ``target`` is a feature. NPZ files with ``X``/``y``
    arrays use ``y`` as the target whatever ``target`` says. With ``upstream``, a file in a
    sealed upstream output is read in place: decrypted once into memory, never written out.
    A data set too large for the stage's memory, one with no rows, NaN features, or a target
    that cannot be class labels or values is a :class:`DatasetError` naming it; ``keys`` is
    where the stage's ``target`` and ``task`` keys sit (``with.data`` in train)."""
    try:
        return _load(path, target, task, upstream, keys)
    except MemoryError as exc:  # pyarrow's ArrowMemoryError is one too
        raise DatasetError(_too_large(path, exc)) from None


def _too_large(path: Path, exc: BaseException) -> str:
    try:
        size = sum(p.stat().st_size for p in ([path] if path.is_file() else path.rglob("*")))
        shown = f" ({size / 2**30:.2f} GiB on disk)"
    except OSError:
        shown = ""
    return (
        f"{path}{shown}: does not fit in this stage's memory ({str(exc).splitlines()[0]}); "
        "train loads its whole data set: give the stage more memory, or train on fewer rows "
        "or columns (an ingest stage's transform: can filter or drop them)"
    )


def _load(
    path: Path, target: str, task: str, upstream: UpstreamFiles | None, keys: str
) -> TabularData:
    is_file: Callable[[Path], bool] = upstream.is_file if upstream is not None else Path.is_file
    manifest = path / "manifest.json" if path.is_dir() else path
    if manifest.name == "manifest.json" and is_file(manifest):
        columns, digest = _columns_from_manifest(manifest, upstream)
        return _tabular(columns, target, task, digest, path, keys)
    if not is_file(path):
        raise DatasetError(f"{path}: data file not found (check with.data and the upstream stage)")
    readers = {
        ".parquet": _columns_from_parquet,
        ".csv": _columns_from_csv,
        ".npz": _columns_from_npz,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"{path}: unknown data format, use .parquet, .csv or .npz")
    if upstream is not None and upstream.sealed(path):  # decrypted once, for both uses
        data = upstream.read(path, _allocate)
        return _tabular(reader(data, path), target, task, _digest(data), path, keys)
    return _tabular(reader(path, path), target, task, file_digest(path), path, keys)


def _digest(data: Any) -> str:
    return "sha256:" + hashlib.sha256(memoryview(data)).hexdigest()


def _columns_from_manifest(
    manifest: Path, upstream: UpstreamFiles | None
) -> tuple[dict[str, Any], str]:
    """The parts an ingest stage's manifest lists (each digest re-checked), as one table."""
    import pyarrow as pa

    from lockgate.stages.ingest.manifest import manifest_digest, manifest_files

    parts = manifest_files(manifest, upstream)
    if not parts:
        raise DatasetError(f"{manifest}: the ingest manifest lists no rows")
    sealed = upstream is not None and upstream.sealed(manifest)
    tables = []
    for part in parts:
        source = upstream.read(part, _allocate) if sealed and upstream is not None else part
        tables.append(_parquet_table(source, part))
    table = pa.concat_tables(tables)
    return {n: table.column(n).to_numpy() for n in table.column_names}, manifest_digest(
        manifest, upstream
    )


def _tabular(
    columns: dict[str, Any], target: str, task: str, digest: str, path: Path, keys: str
) -> TabularData:
    import numpy as np

    key = "__y__" if "__y__" in columns else target
    if key not in columns:
        raise DatasetError(
            f"{path}: target column {target!r} not found; columns: {', '.join(list(columns)[:12])}"
        )
    if not len(columns[key]):
        raise DatasetError(f"{path}: no rows (check the upstream stage that wrote it)")
    names = tuple(n for n in columns if n != key)
    if not names:
        raise DatasetError(f"{path}: no feature columns besides the target {target!r}")
    converted = []
    for name in names:
        try:  # decimals and numbers held as objects convert; text and dates do not
            converted.append(np.asarray(columns[name], dtype=np.float32))
        except (ValueError, TypeError):
            dtype = np.asarray(columns[name]).dtype
            raise DatasetError(
                f"{path}: column {name!r} is not numeric ({dtype}); every column but the target "
                f"{target!r} is a feature: drop or encode it upstream (in an ingest: "
                f"transform: [{{drop: [{name}]}}])"
            ) from None
    features = np.stack(converted, axis=1)
    missing = np.isnan(features).sum(axis=0)
    if missing.any():
        counts = ", ".join(f"{n} ({int(c)})" for n, c in zip(names, missing, strict=True) if c)
        raise DatasetError(
            f"{path}: feature columns with null or NaN values, which would train to NaN: "
            f"{counts}; fill or drop them upstream"
        )
    y = _target(np.asarray(columns[key]), target, task, path, keys)
    return TabularData(features, y, names, digest, path, named=key != "__y__")


def _target(raw: Any, target: str, task: str, path: Path, keys: str) -> Any:
    """The target as int64 class labels 0..K-1 or float32 values; what cannot be either is a
    :class:`DatasetError` saying how to fix it. ``keys`` prefixes the ``with:`` keys named."""
    import numpy as np

    column = f"{path}: target column {target!r}"
    values = raw
    if raw.dtype.kind == "O" and not any(isinstance(v, (str, bytes)) for v in raw):
        with contextlib.suppress(ValueError, TypeError):  # booleans and integers with
            values = raw.astype(np.float64)  # nulls, and decimals, arrive as objects
    if values.dtype.kind not in "biuf":  # text, dates, anything else
        sample = repr(next((v for v in raw if v is not None), None))[:40]
        raise DatasetError(
            f"{column} is not numeric or boolean ({raw.dtype}, e.g. {sample}): encode it as "
            f"integers 0..K-1 upstream, or name a numeric column in {keys}.target"
        )
    if values.dtype.kind == "f" and (nulls := int(np.isnan(values).sum())):
        raise DatasetError(
            f"{column} has {nulls} null or NaN values (of {len(values)} rows): drop those rows "
            f'upstream (in an ingest: transform: [{{filter: "{target} IS NOT NULL"}}])'
        )
    integral = values.dtype.kind in "iub" or bool(np.all(np.mod(values, 1) == 0))
    if task == "regression" or (task == "auto" and not integral):
        return values.astype(np.float32)
    if not integral:
        odd = values[np.mod(values, 1) != 0][0]
        raise DatasetError(
            f"{column} holds non-integral values (e.g. {odd:g}), which are not class labels: "
            f"remap them to integers 0..K-1 upstream, or set {keys}.task: regression"
        )
    if values.dtype.kind != "b" and (low := values.min()) < 0:
        raise DatasetError(
            f"{column} holds negative labels (lowest {low:g}); classification needs labels "
            f"0..K-1: remap the column {keys}.target names (e.g. -1/1 to 0/1), or set "
            f"{keys}.task: regression"
        )
    return values.astype(np.int64)


def n_classes(data: TabularData, *others: TabularData | None) -> int:
    """Number of classes (max label + 1 across the sets), 0 for a regression target."""
    if data.target.dtype.kind != "i":
        return 0
    top = max(int(d.target.max()) for d in (data, *others) if d is not None and len(d.target))
    return top + 1
