"""AES-256-GCM files, sealed and opened in segments: a round trip gives the bytes back; a
flipped bit, a truncated file, segments reordered or cut at a boundary, a file opened under
another name or with another key is one SealError naming the file, and no plaintext is left
behind. A file sealed whole in memory (the single-message layout) still opens from disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockgate.engine import sealed_file
from lockgate.engine.sealed_file import HEADER, MAGIC, SEGMENT
from lockgate.engine.sealing import Sealer, SealError

KEY = bytes(range(32))


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, bytes]:
    plain = os.urandom(2 * SEGMENT + 5)  # three segments, the last one short
    src = tmp_path / "plain.bin"
    src.write_bytes(plain)
    Sealer.from_key(KEY).seal_file(src, tmp_path / "f.sealed", "model/f.bin")
    return tmp_path / "f.sealed", plain


def test_round_trip_and_layout(tmp_path: Path, sealed: tuple[Path, bytes]) -> None:
    path, plain = sealed
    body = path.read_bytes()
    sealer = Sealer.from_key(KEY)
    assert body.startswith(MAGIC + bytes.fromhex(sealer.key_id))
    assert len(body) == HEADER + len(plain) + 3 * 16
    assert plain[:4096] not in body
    sealer.open_file(path, tmp_path / "back.bin", "model/f.bin", "where")
    assert (tmp_path / "back.bin").read_bytes() == plain


@pytest.mark.parametrize("size", [0, 1, SEGMENT, SEGMENT + 1])
def test_sizes_at_the_edges_round_trip(tmp_path: Path, size: int) -> None:
    sealer, plain = Sealer.from_key(KEY), os.urandom(size)
    (tmp_path / "p").write_bytes(plain)
    sealer.seal_file(tmp_path / "p", tmp_path / "s", "p")
    assert (tmp_path / "s").stat().st_size == sealed_file.sealed_size(size)
    sealer.open_file(tmp_path / "s", tmp_path / "back", "p", "where")
    assert (tmp_path / "back").read_bytes() == plain


def test_a_file_sealed_whole_in_memory_opens_from_disk(tmp_path: Path) -> None:
    sealer, plain = Sealer.from_key(KEY), os.urandom(5 << 20)
    (tmp_path / "s").write_bytes(sealer.seal(plain, "part-0.parquet"))
    sealer.open_file(tmp_path / "s", tmp_path / "back", "part-0.parquet", "where")
    assert (tmp_path / "back").read_bytes() == plain
    with pytest.raises(SealError, match="authentication failed"):
        sealer.open_file(tmp_path / "s", tmp_path / "other", "part-1.parquet", "where")


def test_a_fresh_nonce_per_file(tmp_path: Path) -> None:
    sealer = Sealer.from_key(KEY)
    src = tmp_path / "p"
    src.write_bytes(b"same bytes")
    sealer.seal_file(src, tmp_path / "a", "p")
    sealer.seal_file(src, tmp_path / "b", "p")
    a, b = (tmp_path / "a").read_bytes(), (tmp_path / "b").read_bytes()
    assert a[len(MAGIC) + 16 : HEADER] != b[len(MAGIC) + 16 : HEADER] and a[HEADER:] != b[HEADER:]


@pytest.mark.parametrize(
    ("damage", "name", "key", "message"),
    [
        ("flip-middle", "model/f.bin", KEY, "authentication failed"),
        ("flip-tag", "model/f.bin", KEY, "authentication failed"),
        ("truncate", "model/f.bin", KEY, "authentication failed"),
        ("reorder", "model/f.bin", KEY, "authentication failed"),
        ("repeat", "model/f.bin", KEY, "authentication failed"),
        ("cut-at-boundary", "model/f.bin", KEY, "authentication failed"),
        ("cut-and-resize", "model/f.bin", KEY, "authentication failed"),
        ("huge-segment", "model/f.bin", KEY, "authentication failed"),
        (None, "model/g.bin", KEY, "authentication failed: the file was altered, truncated or"),
        (None, "model/f.bin", bytes(32), "sealed with key .* but the configured key is"),
        ("plain", "model/f.bin", KEY, "not a lockgate-sealed file"),
    ],
)
def test_damage_is_one_clear_error_and_leaves_nothing(
    tmp_path: Path,
    sealed: tuple[Path, bytes],
    damage: str | None,
    name: str,
    key: bytes,
    message: str,
) -> None:
    path, plain = sealed
    body = bytearray(path.read_bytes())
    if damage == "flip-middle":
        body[len(body) // 2] ^= 1
    elif damage == "flip-tag":
        body[-1] ^= 0x80
    elif damage == "truncate":
        del body[-4096 - 16 : -16]
    elif damage in ("reorder", "repeat"):  # the first two (full) segments trade places
        one = SEGMENT + 16
        first, second = body[HEADER : HEADER + one], body[HEADER + one : HEADER + 2 * one]
        body[HEADER : HEADER + 2 * one] = second + (second if damage == "repeat" else first)
    elif damage == "cut-at-boundary":  # the last segment dropped whole
        del body[HEADER + 2 * (SEGMENT + 16) :]
    elif damage == "cut-and-resize":  # ... and the header's plaintext size made to match
        del body[HEADER + 2 * (SEGMENT + 16) :]
        body[HEADER - 8 : HEADER] = (2 * SEGMENT).to_bytes(8, "big")
    elif damage == "huge-segment":  # a header asking each worker for a 4 GiB buffer
        body[HEADER - 12 : HEADER - 8] = (0xFFFFFFFF).to_bytes(4, "big")
    elif damage == "plain":
        body = bytearray(plain)
    path.write_bytes(bytes(body))
    target = tmp_path / "out.bin"
    with pytest.raises(SealError, match=message) as info:
        Sealer.from_key(key).open_file(path, target, name, str(path))
    assert str(path) in str(info.value)
    assert not target.exists() and not list(tmp_path.glob(".*opening"))
    # the fault apart from the advice, for callers whose remedy differs (ingest, train)
    assert info.value.kind == ("tampered" if key == KEY else "other-key")
    assert str(info.value) == f"{info.value.what}; {info.value.advice}"
    assert str(path) in info.value.what and str(path) not in info.value.advice


def test_a_seal_error_keeps_its_parts_across_a_process_boundary() -> None:
    import pickle

    error = pickle.loads(
        pickle.dumps(SealError("f: sealed with key a", "restore it", kind="other-key"))
    )
    assert (error.what, error.advice, error.kind) == (
        "f: sealed with key a",
        "restore it",
        "other-key",
    )
    assert str(error) == "f: sealed with key a; restore it"


def test_the_key_is_not_in_repr() -> None:
    assert KEY.hex() not in repr(Sealer.from_key(KEY)) and "key=" not in repr(Sealer.from_key(KEY))


def test_more_than_one_message_holds_is_a_seal_error_not_an_overflow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """AES-GCM in one call takes at most 2**31 - 1 bytes; beyond that the cipher raised a bare
    OverflowError (a traceback). The bound is lowered here so as not to allocate 2 GiB."""
    import lockgate.engine.sealing as sealing

    sealer = sealing.Sealer.from_key(bytes(range(32)))
    monkeypatch.setattr(sealing, "ONE_MESSAGE_MAX", 16)
    assert sealer.open(sealer.seal(b"x" * 16, "n"), "n", "w") == b"x" * 16
    with pytest.raises(sealing.SealError, match=r"n: 17 bytes is more than one sealed message"):
        sealer.seal(b"x" * 17, "n")
