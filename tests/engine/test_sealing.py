"""AES-256-GCM files, sealed and opened block by block: a round trip gives the bytes back; a
flipped bit, a truncated file, a file opened under another name or with another key is one
SealError naming the file, and no plaintext is left behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockgate.engine.sealing import HEADER, MAGIC, Sealer, SealError

KEY = bytes(range(32))


@pytest.fixture
def sealed(tmp_path: Path) -> tuple[Path, bytes]:
    plain = os.urandom((9 << 20) + 5)  # crosses the 4 MiB block boundary twice, unaligned
    src = tmp_path / "plain.bin"
    src.write_bytes(plain)
    Sealer.from_key(KEY).seal_file(src, tmp_path / "f.sealed", "model/f.bin")
    return tmp_path / "f.sealed", plain


def test_round_trip_and_layout(tmp_path: Path, sealed: tuple[Path, bytes]) -> None:
    path, plain = sealed
    body = path.read_bytes()
    sealer = Sealer.from_key(KEY)
    assert body.startswith(MAGIC + bytes.fromhex(sealer.key_id))
    assert len(body) == HEADER + len(plain) + 16
    assert plain[:4096] not in body
    sealer.open_file(path, tmp_path / "back.bin", "model/f.bin", "where")
    assert (tmp_path / "back.bin").read_bytes() == plain
    # the in-memory form reads the same layout
    assert sealer.open(body, "model/f.bin", "where") == plain


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
    elif damage == "plain":
        body = bytearray(plain)
    path.write_bytes(bytes(body))
    target = tmp_path / "out.bin"
    with pytest.raises(SealError, match=message) as info:
        Sealer.from_key(key).open_file(path, target, name, str(path))
    assert str(path) in str(info.value)
    assert not target.exists() and not list(tmp_path.glob(".*opening"))


def test_the_key_is_not_in_repr() -> None:
    assert KEY.hex() not in repr(Sealer.from_key(KEY)) and "key=" not in repr(Sealer.from_key(KEY))
