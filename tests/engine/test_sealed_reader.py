"""Reading a sealed file in place: random reads give the plaintext's bytes and decrypt only the
segments they touch; a flipped byte in a segment that is read, a file cut short (even when only
its head is read), segments swapped, another name or a wrong key all fail; Parquet read through
it with pyarrow touches only the footer and the columns asked for."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from lockgate.engine.sealed_file import HEADER, seal_file
from lockgate.engine.sealed_reader import SealedReader, open_sealed, read_sealed
from lockgate.engine.sealing import Sealer, SealError

SEALER = Sealer.from_key(bytes(range(32)))
SEGMENT = 4096  # small segments, so a few KiB make many of them
TAG = 16


def sealed(tmp_path: Path, data: bytes, segment: int = SEGMENT) -> Path:
    plain, target = tmp_path / "plain.bin", tmp_path / "sealed.bin"
    plain.write_bytes(data)
    seal_file(SEALER, plain, target, "t/data.bin", segment)
    return target


def reader(path: Path, name: str = "t/data.bin", sealer: Sealer = SEALER) -> SealedReader:
    return SealedReader(sealer, path, name, str(path))


def flip(path: Path, at: int) -> None:
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)
        f.seek(at)
        f.write(bytes([byte[0] ^ 1]))


@pytest.mark.parametrize("size", [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 10 * SEGMENT + 123])
def test_random_reads_match_the_plaintext(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = sealed(tmp_path, data)
    rng = random.Random(size)
    with open_sealed(SEALER, path, "t/data.bin", str(path)) as f:
        assert f.read() == data
        for _ in range(200):
            at, n = rng.randrange(size + 2), rng.randrange(3 * SEGMENT)
            f.seek(at)
            want = data[at : at + n]
            assert f.read(n) == want
            assert f.tell() == at + len(want)
        f.seek(-min(size, 7), os.SEEK_END)
        assert f.read() == data[size - min(size, 7) :]


def test_whole_segments_go_straight_into_the_callers_buffer(tmp_path: Path) -> None:
    data = os.urandom(5 * SEGMENT + 10)
    path = sealed(tmp_path, data)
    with reader(path) as raw:
        buf = bytearray(2 * SEGMENT)
        raw.seek(SEGMENT)
        assert raw.readinto(buf) == 2 * SEGMENT
        assert bytes(buf) == data[SEGMENT : 3 * SEGMENT]
        raw.seek(5 * SEGMENT)
        assert raw.readinto(buf) == 10 and bytes(buf[:10]) == data[5 * SEGMENT :]
        assert raw.readinto(buf) == 0  # at the end


def test_a_flipped_byte_in_a_segment_that_is_read_fails(tmp_path: Path) -> None:
    data = os.urandom(8 * SEGMENT)
    path = sealed(tmp_path, data)
    flip(path, HEADER + 3 * (SEGMENT + TAG) + 100)  # inside segment 3
    with reader(path) as f:
        f.seek(0)
        assert f.read(SEGMENT) == data[:SEGMENT]  # segment 0 is intact and authenticates
        f.seek(3 * SEGMENT + 5)
        with pytest.raises(SealError, match="authentication failed"):
            f.read(10)
        buf = bytearray(SEGMENT)
        f.seek(3 * SEGMENT)
        with pytest.raises(SealError, match="authentication failed"):
            f.readinto(buf)
        assert bytes(buf) == bytes(SEGMENT)  # no unauthenticated plaintext is left in it
        many = bytearray(b"x" * 3 * SEGMENT)
        f.seek(2 * SEGMENT)
        with pytest.raises(SealError, match="authentication failed"):
            f.readinto(many)  # segments 2, 3 and 4 at once
        assert bytes(many) == bytes(3 * SEGMENT)


def test_a_flipped_tag_or_header_byte_fails(tmp_path: Path) -> None:
    path = sealed(tmp_path, os.urandom(3 * SEGMENT))
    flip(path, HEADER + SEGMENT + 3)  # segment 0's tag
    with reader(path) as f, pytest.raises(SealError, match="authentication failed"):
        f.read(1)
    path = sealed(tmp_path, os.urandom(3 * SEGMENT))
    flip(path, HEADER - 20)  # the base nonce: every segment, the last one checked up front
    with pytest.raises(SealError, match="authentication failed"):
        reader(path)


@pytest.mark.parametrize("cut", [1, TAG, SEGMENT + TAG, 2 * (SEGMENT + TAG)])
def test_a_truncated_file_fails_when_opened_even_if_only_its_head_is_read(
    tmp_path: Path, cut: int
) -> None:
    path = sealed(tmp_path, os.urandom(5 * SEGMENT))
    os.truncate(path, path.stat().st_size - cut)
    with pytest.raises(SealError, match="authentication failed"):
        reader(path)


def test_a_file_cut_at_a_segment_boundary_with_a_forged_length_fails(tmp_path: Path) -> None:
    """Dropping the last segments and rewriting the header's size to match: the header is
    authenticated by every segment, and the new last segment does not say it is last."""
    path = sealed(tmp_path, os.urandom(5 * SEGMENT))
    raw = bytearray(path.read_bytes())
    keep = 3
    raw[HEADER - 8 : HEADER] = (keep * SEGMENT).to_bytes(8, "big")
    path.write_bytes(bytes(raw[: HEADER + keep * (SEGMENT + TAG)]))
    with pytest.raises(SealError, match="authentication failed"):
        reader(path)


def test_swapped_segments_fail(tmp_path: Path) -> None:
    path = sealed(tmp_path, os.urandom(4 * SEGMENT))
    raw = bytearray(path.read_bytes())
    one, two = (
        slice(HEADER + i * (SEGMENT + TAG), HEADER + (i + 1) * (SEGMENT + TAG)) for i in (0, 1)
    )
    raw[one], raw[two] = raw[two], raw[one]
    path.write_bytes(bytes(raw))
    with reader(path) as f, pytest.raises(SealError, match="authentication failed"):
        f.read(1)


def test_another_name_or_key_fails(tmp_path: Path) -> None:
    path = sealed(tmp_path, os.urandom(2 * SEGMENT))
    with pytest.raises(SealError, match="authentication failed"):
        reader(path, name="t/other.bin")
    with pytest.raises(SealError, match="sealed with key"):
        reader(path, sealer=Sealer.from_key(bytes(32)))


def test_not_a_sealed_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.bin"
    path.write_bytes(b"just text, long enough to look like something" * 3)
    with pytest.raises(SealError, match="not a lockgate-sealed file"):
        open_sealed(SEALER, path, "x", str(path))


def test_a_file_sealed_as_one_message_reads_too(tmp_path: Path) -> None:
    path = tmp_path / "single.bin"
    data = os.urandom(10_000)
    path.write_bytes(SEALER.seal(data, "t/x"))
    with open_sealed(SEALER, path, "t/x", str(path)) as f:
        f.seek(9_000)
        assert f.read() == data[9_000:]
    flip(path, 100)
    with pytest.raises(SealError, match="authentication failed"):
        open_sealed(SEALER, path, "t/x", str(path))


@pytest.mark.parametrize(
    ("size", "segment"),
    [
        (0, SEGMENT),
        (1, SEGMENT),
        (SEGMENT, SEGMENT),
        (10 * SEGMENT + 123, SEGMENT),
        (9 << 20, 1 << 16),
    ],  # the last on several threads: at least two 4 MiB segments' worth
)
def test_a_whole_read_gives_the_plaintext_in_the_callers_buffer(
    tmp_path: Path, size: int, segment: int
) -> None:
    data = os.urandom(size)
    path = sealed(tmp_path, data, segment)
    made: list[bytearray] = []

    def allocate(n: int) -> bytearray:
        made.append(bytearray(n))
        return made[-1]

    got = read_sealed(SEALER, path, "t/data.bin", str(path), allocate)
    assert got is made[0] and bytes(got) == data


@pytest.mark.parametrize("at", [HEADER + 5, HEADER + 7 * (SEGMENT + TAG) - 1])
def test_a_whole_read_checks_every_segment(tmp_path: Path, at: int) -> None:
    path = sealed(tmp_path, os.urandom(12 * SEGMENT))
    flip(path, at)  # segment 0's data, then segment 6's tag
    with pytest.raises(SealError, match="authentication failed"):
        read_sealed(SEALER, path, "t/data.bin", str(path))
    fresh = sealed(tmp_path, os.urandom(12 * SEGMENT))
    os.truncate(fresh, fresh.stat().st_size - SEGMENT - TAG)
    with pytest.raises(SealError, match="authentication failed"):
        read_sealed(SEALER, fresh, "t/data.bin", str(fresh))
    with pytest.raises(SealError, match="sealed with key"):
        read_sealed(Sealer.from_key(bytes(32)), fresh, "t/data.bin", str(fresh))


def test_a_whole_read_of_a_file_sealed_as_one_message(tmp_path: Path) -> None:
    path = tmp_path / "single.bin"
    data = os.urandom(10_000)
    path.write_bytes(SEALER.seal(data, "t/x"))
    assert read_sealed(SEALER, path, "t/x", str(path)) == data
    with pytest.raises(SealError, match="authentication failed"):
        read_sealed(SEALER, path, "t/y", str(path))


class Counting(SealedReader):
    """Counts the segments decrypted (the reader under test, with a tally)."""

    loaded: list[int]

    def _decrypt(self, i, target, sealed=None):  # type: ignore[no-untyped-def]
        self.loaded.append(i)
        return super()._decrypt(i, target, sealed)


def test_parquet_read_through_it_decrypts_only_the_footer_and_the_columns_read(
    tmp_path: Path,
) -> None:
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.random(200_000) for i in range(16)})
    plain = tmp_path / "t.parquet"
    pq.write_table(table, plain, compression=None, row_group_size=200_000)
    segment = 64 << 10
    target = tmp_path / "t.parquet.sealed"
    seal_file(SEALER, plain, target, "t/t.parquet", segment)
    Counting.loaded = []
    raw = Counting(SEALER, target, "t/t.parquet", str(target))
    with io.BufferedReader(raw, buffer_size=1 << 16) as f:
        got = pq.read_table(f, columns=["c3", "c11"])
    assert got.equals(table.select(["c3", "c11"]))
    count = -(-plain.stat().st_size // segment)
    # each column is 1.6 MB, about 25 segments; two columns and the footer are a small share
    assert len(set(Counting.loaded)) < count / 4, (len(set(Counting.loaded)), count)
    with open_sealed(SEALER, target, "t/t.parquet", str(target)) as f:
        assert pq.read_table(f).equals(table)


def test_a_tampered_column_fails_the_parquet_read_that_touches_it(tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"a": np.arange(100_000.0), "b": np.arange(100_000.0)})
    plain = tmp_path / "t.parquet"
    pq.write_table(table, plain, compression=None)
    target = tmp_path / "t.parquet.sealed"
    seal_file(SEALER, plain, target, "t/t.parquet", SEGMENT)
    flip(target, HEADER + 10 * (SEGMENT + TAG) + 7)  # inside column "a"'s data
    with (
        open_sealed(SEALER, target, "t/t.parquet", str(target)) as f,
        pytest.raises(SealError, match="authentication failed"),
    ):
        pq.read_table(f, columns=["a"])
