"""Ingest outputs encrypted at rest: AES-256-GCM with a fresh nonce per file, the key id
recorded and never the key; a tampered, renamed or wrongly keyed file is a clear error."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from lockgate.stages.ingest import main
from lockgate.stages.ingest.sealing import Sealer, SealError
from tests.stages.ingest.conftest import stage_context

KEY = bytes(range(32))


def _sealed_run(tmp_path: Path) -> tuple[Path, Path]:
    import polars as pl

    ctx = stage_context(
        tmp_path,
        {
            "source": {"files": {"path": "raw"}},
            "mode": "stream",
            "encryption": {"key": "data-key"},
        },
    )
    (ctx.secrets_dir / "data-key").write_text(KEY.hex() + "\n")
    for day in ("2024-05-01", "2024-05-02"):
        folder = ctx.workspace / "raw" / f"day={day}"
        folder.mkdir(parents=True)
        pl.DataFrame({"id": [1, 2], "secret_col": ["alpha-row", "beta-row"]}).write_parquet(
            folder / "p.parquet"
        )
    assert main(ctx) == 0
    return ctx.out, tmp_path / "state"


def test_parts_are_sealed_and_open_with_the_key(tmp_path: Path) -> None:
    import polars as pl

    out, state = _sealed_run(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    sealer = Sealer.from_key(KEY)
    assert manifest["encryption"] == {"cipher": "AES-256-GCM", "key_id": sealer.key_id}
    parts = [out / f["path"] for f in manifest["files"]]
    assert [p.name for p in parts] == ["part-000001.parquet.sealed", "part-000002.parquet.sealed"]
    for part in parts:
        body = part.read_bytes()
        assert b"alpha-row" not in body and b"PAR1" not in body
        frame = pl.read_parquet(io.BytesIO(sealer.open(body, part.name, str(part))))
        assert frame["secret_col"].to_list() == ["alpha-row", "beta-row"]
    # the same plaintext sealed twice differs: a fresh nonce per file
    assert parts[0].read_bytes()[8 + 16 : 8 + 28] != parts[1].read_bytes()[8 + 16 : 8 + 28]
    for folder in (out, state):
        for f in folder.rglob("*"):
            if f.is_file():
                data = f.read_bytes()
                assert KEY not in data and KEY.hex().encode() not in data, f


def test_tampered_renamed_or_wrong_key_is_refused(tmp_path: Path) -> None:
    out, _ = _sealed_run(tmp_path)
    part = sorted((out / "data").iterdir())[0]
    body = bytearray(part.read_bytes())
    sealer = Sealer.from_key(KEY)
    flipped = bytes(body[:-1]) + bytes([body[-1] ^ 1])
    with pytest.raises(SealError, match="authentication failed: the file was altered or renamed"):
        sealer.open(flipped, part.name, "x")
    with pytest.raises(SealError, match="authentication failed"):
        sealer.open(bytes(body), "part-000009.parquet.sealed", "x")
    other = Sealer.from_key(os.urandom(32))
    with pytest.raises(SealError, match=f"sealed with key {sealer.key_id}, but the configured"):
        other.open(bytes(body), part.name, "x")
    with pytest.raises(SealError, match="not a lockgate-sealed file"):
        sealer.open(b"PAR1 plain parquet", part.name, "x")


def test_readers_refuse_sealed_parts_rather_than_misread_them(tmp_path: Path) -> None:
    from lockgate.stages.train.tabular import load_tabular

    out, _ = _sealed_run(tmp_path)
    with pytest.raises(LockgateError, match="its parts are encrypted"):
        load_tabular(out, "id")


@pytest.mark.parametrize(
    ("ref", "content", "message"),
    [
        ("awskms://alias/data", None, "awskms keys cannot encrypt data here yet"),
        ("data-key", "too-short", "an encryption key must be 32 bytes"),
        ("absent", None, "secret 'absent' is not available to this stage"),
        ("file:keys/none.key", None, "cannot read key file"),
    ],
)
def test_bad_keys_are_one_clear_error(
    tmp_path: Path, ref: str, content: str | None, message: str
) -> None:
    ctx = stage_context(
        tmp_path, {"source": {"files": {"path": "raw"}}, "encryption": {"key": ref}}
    )
    if content is not None:
        (ctx.secrets_dir / "data-key").write_text(content)
    with pytest.raises(LockgateError, match=message):
        main(ctx)


def test_a_key_file_works_offline(tmp_path: Path) -> None:
    key_file = tmp_path / "ws" / "keys" / "data.key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(KEY.hex())
    sealer = Sealer.resolve("file:keys/data.key", lambda n: "", lambda p: tmp_path / "ws" / p)
    assert sealer.key_id == Sealer.from_key(KEY).key_id
