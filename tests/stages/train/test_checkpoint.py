from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from lockgate.stages.train.checkpoint import CheckpointStore, fingerprint  # noqa: E402


def test_keeps_newest_and_skips_an_unreadable_one(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck", keep=2)
    for step in (10, 20, 30):
        store.save({"global_step": step, "w": torch.full((3,), float(step))})
    assert [p.name for p in store.existing()] == ["step-00000020.pt", "step-00000030.pt"]
    assert not list((tmp_path / "ck").glob(".tmp-*"))
    store.path_for(40).write_bytes(b"not a checkpoint")  # a torn file from elsewhere
    latest = store.load_latest()
    assert latest is not None and latest["global_step"] == 30
    assert torch.equal(latest["w"], torch.full((3,), 30.0))


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck")
    store.save({"global_step": 1, "w": torch.ones(2)})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.save({"global_step": 2, "bad": Unpicklable()})
    assert [p.name for p in store.existing()] == ["step-00000001.pt"]
    assert not list((tmp_path / "ck").glob(".tmp-*"))
    assert store.load_latest()["global_step"] == 1


def test_fingerprint_is_order_independent_and_sensitive() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


class _Planted:
    """A pickle that runs code when unpickled: what a planted checkpoint would carry."""

    def __reduce__(self):
        import os

        return (os.system, ("touch planted-ran",))


def test_a_checkpoint_that_would_run_code_is_skipped_not_executed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = CheckpointStore(tmp_path / "ck")
    store.save({"global_step": 1, "w": torch.ones(2)})
    torch.save({"global_step": 2, "payload": _Planted()}, store.path_for(2))
    latest = store.load_latest()
    assert latest is not None and latest["global_step"] == 1
    assert not (tmp_path / "planted-ran").exists()


def test_sealed_checkpoints_resume_and_refuse_tampering(tmp_path: Path) -> None:
    """With encryption on, a checkpoint at rest is sealed; it resumes with the key, a tampered
    one is an error (not skipped), and a plaintext one from before is not resumed from."""
    from lockgate.engine.sealing import Sealer, SealError

    sealer = Sealer.from_key(bytes(range(32)))
    plain = CheckpointStore(tmp_path / "ck")
    plain.save({"global_step": 1, "w": torch.ones(2)})
    store = CheckpointStore(tmp_path / "ck", sealer=sealer)
    assert store.load_latest() is None  # plaintext from before encryption: start over
    store.save({"global_step": 2, "w": torch.full((2,), 7.0)})
    path = store.path_for(2)
    assert b"PK" not in path.read_bytes()[:64] and path.read_bytes().startswith(b"LGSEAL1\n")
    assert torch.equal(store.load_latest()["w"], torch.full((2,), 7.0))
    with pytest.raises(SealError, match=r"sealed, but lockgate\.yaml sets no `encryption:`"):
        plain.load_latest()
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 1
    path.write_bytes(bytes(body))
    with pytest.raises(SealError, match=r"step-00000002\.pt: authentication failed"):
        store.load_latest()


def test_kms_sealed_checkpoints_resume_after_the_state_folder_is_gone(tmp_path: Path) -> None:
    """A checkpoint_dir outside the state folder keeps the wrapped data key beside the
    checkpoints: a later run whose state folder (and so its own data key) is new resumes.
    Vault is the recording transit server of the engine tests (no Vault binary here)."""
    import shutil

    from lockgate.engine.sealing import Sealer
    from tests.engine.kms_servers import VaultTransitServer

    with VaultTransitServer("hvs.ck-token") as vault:
        values = {"addr": vault.addr, "token": "hvs.ck-token"}
        creds = {"VAULT_ADDR": "addr", "VAULT_TOKEN": "token"}

        def sealer() -> Sealer:
            store = tmp_path / "state"
            return Sealer.resolve(
                "hashivault://lockgate", values.__getitem__, Path, store=store, credentials=creds
            )

        first = sealer()
        CheckpointStore(tmp_path / "ck", sealer=first).save({"global_step": 3, "w": torch.ones(2)})
        assert (tmp_path / "ck" / ".lockgate-keys" / f"{first.key_id}.json").is_file()
        shutil.rmtree(tmp_path / "state")
        later = sealer()
        assert later.key_id != first.key_id
        resumed = CheckpointStore(tmp_path / "ck", sealer=later).load_latest()
        assert resumed is not None and torch.equal(resumed["w"], torch.ones(2))
