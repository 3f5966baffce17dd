"""The reading stage's side of an encrypted cache hit: Parquet read plain, read through a
sealed file in place, or read after the sealed file is opened into plaintext.

One Parquet file of about the output's size (float64 columns, uncompressed, so its size is its
data), sealed in 4 MiB segments. Each case is what the next stage does after a cache hit, in this
process, alternating rounds:

- ``plain``: pyarrow reads the plain file (what a plain hit gives a stage: the entry, linked);
- ``in_place``: pyarrow reads it through :func:`lockgate.engine.sealed_reader.open_sealed`,
  which decrypts only the segments the read touches and writes nothing;
- ``opened``: the sealed file is opened into a plaintext copy (what the engine does for a stage
  it cannot read for: a container or a command), pyarrow reads the copy, the copy is removed.

for two reads: ``whole`` (every column) and ``few`` (2 of the columns).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.result_file import alternate, median

COLUMNS = 16
FEW = ["c3", "c11"]


def parquet_file(path: Path, mib: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = (mib << 20) // (8 * COLUMNS)
    rng = np.random.default_rng(0)
    group = 1 << 20  # rows per row group: 128 MiB groups
    with pq.ParquetWriter(
        path, pa.schema([(f"c{i}", pa.float64()) for i in range(COLUMNS)]), compression="none"
    ) as writer:
        for start in range(0, rows, group):
            n = min(group, rows - start)
            writer.write_table(pa.table({f"c{i}": rng.random(n) for i in range(COLUMNS)}))


def reads(folder: Path, mib: int, repeat: int, key: bytes) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from lockgate.engine.sealed_reader import open_sealed
    from lockgate.engine.sealing import Sealer

    sealer = Sealer.from_key(key)
    plain, sealed, copy = folder / "t.parquet", folder / "t.parquet.sealed", folder / "copy.parquet"
    parquet_file(plain, mib)
    sealer.seal_file(plain, sealed, "t.parquet")
    cpu: dict[str, list[float]] = {}

    def timed(name: str, work: Callable[[], object]) -> Callable[[], float]:
        def side() -> float:
            used, start = time.process_time(), time.perf_counter()
            work()
            seconds = time.perf_counter() - start
            cpu.setdefault(name, []).append(time.process_time() - used)
            return seconds

        return side

    def in_place(columns: list[str] | None) -> None:
        with open_sealed(sealer, sealed, "t.parquet", str(sealed)) as f:
            pq.read_table(f, columns=columns)

    def opened(columns: list[str] | None) -> None:
        sealer.open_file(sealed, copy, "t.parquet", str(sealed))
        pq.read_table(copy, columns=columns)
        os.unlink(copy)

    result: dict[str, Any] = {
        "file_mib": round(plain.stat().st_size / (1 << 20)),
        "columns": COLUMNS,
    }
    for read, columns in (("whole", None), ("few", FEW)):
        raw = alternate(
            {
                "plain": timed(f"{read}/plain", lambda c=columns: pq.read_table(plain, columns=c)),
                "in_place": timed(f"{read}/in_place", lambda c=columns: in_place(c)),
                "opened": timed(f"{read}/opened", lambda c=columns: opened(c)),
            },
            repeat=repeat,
        )
        sides = {
            side: {
                "median": median(values),
                "raw": [round(v, 3) for v in values],
                "cpu_median": median(cpu[f"{read}/{side}"][-repeat:]),
            }
            for side, values in raw.items()
        }
        base = sides["plain"]["median"]
        for side in ("in_place", "opened"):
            sides[side]["ratio"] = round(sides[side]["median"] / base, 3)
            sides[side]["cpu_ratio"] = round(
                sides[side]["cpu_median"] / sides["plain"]["cpu_median"], 3
            )
        result[read] = sides
        print("lazy", read, sides, flush=True)
    result["few_columns"] = FEW
    return result
