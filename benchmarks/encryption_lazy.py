"""The reading stage's side of an encrypted cache hit: Parquet read plain, read through a
sealed file in place, or read after the sealed file is opened into plaintext.

One Parquet file of about the output's size (float64 columns, uncompressed, so its size is its
data), sealed in 4 MiB segments. Each case is what the next stage does after a cache hit, in this
process, alternating rounds:

- ``plain``: pyarrow reads the plain file (what a plain hit gives a stage: the entry, linked);
- ``in_place``: what a built-in stage does, writing nothing to disk. Every column (``whole``):
  :func:`lockgate.engine.sealed_reader.read_sealed` decrypts the file once, on every core, into
  one buffer of pyarrow's memory pool, and pyarrow reads the table from that buffer (what the
  train stage does). A few columns (``few``): pyarrow reads through
  :func:`lockgate.engine.sealed_reader.open_sealed`, a seekable file object that decrypts only
  the segments the read touches;
- ``file_object`` (``whole`` only): every column through that file object, what the train stage
  did before it read whole files into memory;
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
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lockgate.engine.sealed_reader import open_sealed, read_sealed
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

    def file_object(columns: list[str] | None) -> None:
        with open_sealed(sealer, sealed, "t.parquet", str(sealed)) as f:
            pq.read_table(f, columns=columns)

    def whole_in_memory(columns: list[str] | None) -> None:
        data = read_sealed(sealer, sealed, "t.parquet", str(sealed), pa.allocate_buffer)
        pq.read_table(pa.BufferReader(data), columns=columns)

    def opened(columns: list[str] | None) -> None:
        sealer.open_file(sealed, copy, "t.parquet", str(sealed))
        pq.read_table(copy, columns=columns)
        os.unlink(copy)

    result: dict[str, Any] = {
        "file_mib": round(plain.stat().st_size / (1 << 20)),
        "columns": COLUMNS,
    }
    for read, columns in (("whole", None), ("few", FEW)):
        in_place = whole_in_memory if columns is None else file_object
        sides_run = {
            "plain": timed(f"{read}/plain", lambda c=columns: pq.read_table(plain, columns=c)),
            "in_place": timed(f"{read}/in_place", lambda c=columns, f=in_place: f(c)),
            "opened": timed(f"{read}/opened", lambda c=columns: opened(c)),
        }
        if columns is None:
            sides_run["file_object"] = timed(f"{read}/file_object", lambda: file_object(None))
        raw = alternate(sides_run, repeat=repeat)
        sides = {
            side: {
                "median": median(values),
                "raw": [round(v, 3) for v in values],
                "cpu_median": median(cpu[f"{read}/{side}"][-repeat:]),
            }
            for side, values in raw.items()
        }
        base = sides["plain"]["median"]
        for side in sides:
            if side == "plain":
                continue
            sides[side]["ratio"] = round(sides[side]["median"] / base, 3)
            sides[side]["cpu_ratio"] = round(
                sides[side]["cpu_median"] / sides["plain"]["cpu_median"], 3
            )
        result[read] = sides
        print("lazy", read, sides, flush=True)
    result["few_columns"] = FEW
    result["fresh_process"] = fresh_reads(plain, sealed, key, repeat)
    return result


FRESH = """\
import sys, time
from pathlib import Path
import pyarrow as pa
import pyarrow.parquet as pq
from lockgate.engine.sealed_reader import read_sealed
from lockgate.engine.sealing import Sealer
side, plain, sealed, key = sys.argv[1:]
start = time.perf_counter()  # the cipher's import is the sealed side's, so it is timed
if side == "plain":
    table = pq.read_table(plain)
else:
    sealer = Sealer.from_key(bytes.fromhex(key))
    data = read_sealed(sealer, Path(sealed), "t.parquet", sealed, pa.allocate_buffer)
    table = pq.read_table(pa.BufferReader(data))
seconds = time.perf_counter() - start
# this process's own peak (VmHWM): ru_maxrss would carry the benchmark's peak over the exec
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(seconds, hwm.split()[1], flush=True)
"""


def fresh_reads(plain: Path, sealed: Path, key: bytes, repeat: int) -> dict[str, Any]:
    """Every column read once in a fresh process, as a stage reads its data: the plain file,
    or the sealed one decrypted into memory. Wall time of the read (the interpreter's and
    pyarrow's imports excluded; the cipher's, which only the sealed side needs, included) and the
    process's peak resident memory, alternating rounds; a process that exits non-zero fails
    the benchmark."""
    import subprocess
    import sys

    peaks: dict[str, list[float]] = {}

    def side(name: str) -> Callable[[], float]:
        def run() -> float:
            done = subprocess.run(
                [sys.executable, "-c", FRESH, name, str(plain), str(sealed), key.hex()],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise SystemExit(f"fresh {name} read exited {done.returncode}: {done.stderr}")
            seconds, kib = done.stdout.split()
            peaks.setdefault(name, []).append(int(kib) / 1024)
            return float(seconds)

        return run

    raw = alternate({"plain": side("plain"), "in_place": side("in_place")}, repeat=repeat)
    return {
        name: {
            "median": median(values),
            "raw": [round(v, 3) for v in values],
            "peak_mib_median": round(median(peaks[name][-repeat:])),
            "peak_mib_raw": [round(v) for v in peaks[name][-repeat:]],
        }
        for name, values in raw.items()
    }


def ciphers(repeat: int) -> dict[str, Any]:
    """Single-thread throughput of the AEADs ``cryptography`` offers, on 4 MiB messages (one
    segment), in alternating rounds of 64 MiB each: what one segment costs, and whether another
    cipher would be cheaper on this CPU."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

    segment, count = 4 << 20, 16
    data, key, nonce = os.urandom(segment), os.urandom(32), os.urandom(12)
    out = bytearray(segment + 16)
    aeads = {"AES-256-GCM": AESGCM(key), "ChaCha20-Poly1305": ChaCha20Poly1305(key)}
    sealed = {name: aead.encrypt(nonce, data, b"") for name, aead in aeads.items()}

    def side(name: str, decrypt: bool) -> Callable[[], float]:
        aead = aeads[name]

        def run() -> float:
            start = time.perf_counter()
            for _ in range(count):
                if decrypt:
                    aead.decrypt_into(nonce, sealed[name], b"", memoryview(out)[:segment])
                else:
                    aead.encrypt_into(nonce, data, b"", out)
            return time.perf_counter() - start

        return run

    sides = {f"{n} {d}": side(n, d == "open") for n in aeads for d in ("seal", "open")}
    raw = alternate(sides, repeat=repeat)
    mib = count * segment / (1 << 20)
    return {
        name: {"mib_per_s": round(mib / median(v)), "raw_s": [round(x, 4) for x in v]}
        for name, v in raw.items()
    }
