"""The ingest stage's state encrypted at rest: with lockgate.yaml's ``encryption:`` (handed to the
stage as LOCKGATE_ENCRYPTION_KEY, a secret's *name*), the parts it keeps in the state folder are
AES-256-GCM with a fresh nonce per file and the key id recorded, never the key; its output holds
plain Parquet that data-check and train read (the engine seals the output in its cache). A
tampered or wrongly keyed part is a clear error."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from lockgate.contract import ENV_ENCRYPTION_KEY
from lockgate.engine.sealing import Sealer
from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.ingest import main
from tests.stages.ingest.conftest import stage_context

KEY = bytes(range(32))
WITH = {"source": {"files": {"path": "raw"}}, "mode": "stream"}


def _context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: str = "1") -> StageContext:
    import polars as pl

    monkeypatch.setenv(ENV_ENCRYPTION_KEY, "data-key")
    ctx = stage_context(tmp_path, WITH, run=run)
    (ctx.secrets_dir / "data-key").write_text(KEY.hex() + "\n")
    for day in ("2024-05-01", "2024-05-02"):
        folder = ctx.workspace / "raw" / f"day={day}"
        if not folder.exists():
            folder.mkdir(parents=True)
            frame = {"id": [1, 2], "secret_col": ["alpha-row", "beta-row"]}
            pl.DataFrame(frame).write_parquet(folder / "p.parquet")
    return ctx


def _state_parts(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state" / "ingest" / "ingest" / "data").iterdir())


def test_state_parts_are_sealed_and_the_output_reads_downstream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import polars as pl

    ctx = _context(tmp_path, monkeypatch)
    assert main(ctx) == 0
    sealer = Sealer.from_key(KEY)
    parts = _state_parts(tmp_path)
    assert [p.name for p in parts] == ["part-000001.parquet.sealed", "part-000002.parquet.sealed"]
    for part in parts:
        body = part.read_bytes()
        assert b"alpha-row" not in body and b"PAR1" not in body
        # sealed for its dataset: the stage and the file name
        plain = sealer.open(body, f"ingest/ingest/{part.name}", str(part))
        frame = pl.read_parquet(io.BytesIO(plain))
        assert frame["secret_col"].to_list() == ["alpha-row", "beta-row"]
    # the same plaintext sealed twice differs: a fresh nonce per file
    assert parts[0].read_bytes()[8 + 16 : 8 + 28] != parts[1].read_bytes()[8 + 16 : 8 + 28]
    sealed = tmp_path / "state" / "ingest" / "ingest" / "journal.json.sealed"
    assert not sealed.with_name("journal.json").exists()
    body = sealed.read_bytes()
    assert b"alpha-row" not in body and b"part-000001" not in body
    opened = sealer.open(body, "ingest/ingest/journal.json.sealed", str(sealed))
    journal = json.loads(opened)
    assert journal["key_id"] == sealer.key_id
    manifest = json.loads((ctx.out / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == [
        "data/part-000001.parquet",
        "data/part-000002.parquet",
    ]
    from lockgate.stages.ingest.manifest import manifest_files

    # data-check and train both read in:ingest through manifest_files (digests re-checked)
    read = pl.concat([pl.read_parquet(p) for p in manifest_files(ctx.out / "manifest.json")])
    assert read["secret_col"].to_list() == ["alpha-row", "beta-row"] * 2
    for f in [*tmp_path.joinpath("state").rglob("*"), *ctx.out.rglob("*")]:
        if f.is_file():
            data = f.read_bytes()
            assert KEY not in data and KEY.hex().encode() not in data, f


def test_a_tampered_state_part_stops_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(_context(tmp_path, monkeypatch)) == 0
    part = _state_parts(tmp_path)[0]
    body = part.read_bytes()
    part.write_bytes(body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(LockgateError, match=r"part-000001\.parquet\.sealed: authentication") as e:
        main(_context(tmp_path, monkeypatch, run="2"))
    # no stage re-writes a kept part: the advice is to start the dataset over
    assert str(e.value).endswith("state/ingest/ingest to ingest from the beginning")
    assert "re-run the stage" not in str(e.value)


def test_another_key_or_no_key_for_a_sealed_dataset_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(_context(tmp_path, monkeypatch)) == 0
    other = _context(tmp_path, monkeypatch, run="2")
    (other.secrets_dir / "data-key").write_text(os.urandom(32).hex())
    with pytest.raises(LockgateError, match=f"sealed with key {Sealer.from_key(KEY).key_id}"):
        main(other)
    monkeypatch.delenv(ENV_ENCRYPTION_KEY)
    with pytest.raises(LockgateError, match="sets no `encryption:`; set `encryption:` to that key"):
        main(stage_context(tmp_path, WITH, run="3"))


def test_the_old_per_stage_setting_names_its_new_place(tmp_path: Path) -> None:
    ctx = stage_context(tmp_path, {**WITH, "encryption": {"key": "data-key"}})
    with pytest.raises(LockgateError, match=r"with\.encryption: .*moved to the top level"):
        main(ctx)


@pytest.mark.parametrize(
    ("ref", "content", "message"),
    [
        ("k8s://ns/data", None, "k8s keys cannot encrypt data at rest yet.*use awskms://"),
        (
            "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
            None,
            "gcpkms needs GOOGLE_SERVICE_ACCOUNT_KEY",
        ),
        ("azurekms://vault.vault.azure.net", None, "expected azurekms://VAULT_NAME"),
        ("awskms:///alias/data", None, "awskms needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        ("data-key", "too-short", "an encryption key must be 32 bytes"),
        ("absent", None, "secret 'absent' is not available to this stage"),
        ("file:keys/none.key", None, "cannot read key file"),
    ],
)
def test_bad_keys_are_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ref: str, content: str | None, message: str
) -> None:
    monkeypatch.setenv(ENV_ENCRYPTION_KEY, ref)
    ctx = stage_context(tmp_path, WITH)
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
    assert KEY.hex() not in repr(sealer)
