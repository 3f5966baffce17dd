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
    assert b"PK" not in path.read_bytes()[:64] and path.read_bytes().startswith(b"LGSEAL2\n")
    assert torch.equal(store.load_latest()["w"], torch.full((2,), 7.0))
    with pytest.raises(SealError, match=r"sealed, but lockgate\.yaml sets no `encryption:`"):
        plain.load_latest()
    body = bytearray(path.read_bytes())
    body[len(body) // 2] ^= 1
    path.write_bytes(bytes(body))
    with pytest.raises(SealError, match=r"step-00000002\.pt: .*; delete it or set resume: false$"):
        store.load_latest()


def test_a_sealed_checkpoint_cut_inside_its_header_names_the_checkpoint_remedy(
    tmp_path: Path,
) -> None:
    """A sealed checkpoint cut short inside its header is a checkpoint to delete, like any other
    that does not open: not "re-run the stage that wrote it", which would only meet it again."""
    from lockgate.engine.sealing import Sealer, SealError

    store = CheckpointStore(tmp_path / "ck", sealer=Sealer.from_key(bytes(range(32))))
    store.save({"global_step": 3, "w": torch.ones(2)})
    path = store.path_for(3)
    path.write_bytes(path.read_bytes()[:20])  # the magic and part of the key id
    with pytest.raises(SealError) as caught:
        store.load_latest()
    assert str(caught.value) == (
        f"{path}: does not open as a checkpoint of stage 'train' and this run's fingerprint "
        "(altered, or copied from another stage or run); delete it or set resume: false"
    )


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


def test_the_newest_checkpoint_is_the_highest_step_not_the_last_name(tmp_path: Path) -> None:
    """Past step 99,999,999 the names grow a digit: sorted as text, the newest would be pruned."""
    store = CheckpointStore(tmp_path / "ck", keep=2)
    for step in (99_999_998, 99_999_999, 100_000_000):
        store.save({"global_step": step})
    assert [p.name for p in store.existing()] == ["step-99999999.pt", "step-100000000.pt"]
    assert store.load_latest()["global_step"] == 100_000_000


def test_numpy_rng_state_is_checkpointed_and_restored(tmp_path: Path) -> None:
    """NumPy's global RNG (seeded by the stage, drawn by user losses) travels with the
    checkpoint, through weights_only loading, and comes back."""
    import numpy as np

    from lockgate.stages.train.checkpoint import capture_rng, restore_rng

    cpu = torch.device("cpu")
    np.random.seed(7)
    np.random.normal()  # a cached gaussian is part of the state too
    store = CheckpointStore(tmp_path / "ck")
    store.save({"global_step": 1, "rng": capture_rng(cpu)})
    expected = np.random.beta(0.4, 0.4, size=5)
    np.random.seed(99)
    restore_rng(store.load_latest()["rng"], cpu)
    assert np.array_equal(np.random.beta(0.4, 0.4, size=5), expected)


def test_a_checkpoint_of_another_run_is_skipped_with_a_notice(tmp_path: Path) -> None:
    """A shared checkpoint_dir: a checkpoint whose run fingerprint (config, data, code) is not
    this run's is not resumed; one written before fingerprints were stored neither."""
    CheckpointStore(tmp_path / "ck", run_key="old-config").save({"global_step": 21})
    torch.save({"global_step": 28}, tmp_path / "ck" / "step-00000028.pt")  # no fingerprint
    store = CheckpointStore(tmp_path / "ck", run_key="new-config")
    assert store.resumable() is None
    assert [n.split(": it is")[0] for n in store.notices] == [
        f"train: not resuming {store.path_for(28)}",
        f"train: not resuming {store.path_for(21)}",
    ]
    assert "fingerprint old-config, this run new-config); starting fresh" in store.notices[1]
    mine = CheckpointStore(tmp_path / "ck", run_key="old-config")
    found = mine.resumable()
    assert found is not None and found.path == mine.path_for(21)


def test_an_unreadable_checkpoint_is_named_in_a_notice(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path / "ck")
    store.save({"global_step": 14})
    store.save({"global_step": 21})
    newest = store.path_for(21)
    newest.write_bytes(newest.read_bytes()[:1000])  # a disk that filled up
    found = store.resumable()
    assert found is not None and found.path == store.path_for(14)
    (notice,) = store.notices
    assert notice.startswith(f"train: skipping unreadable checkpoint {newest} (RuntimeError: ")
    assert "\n" not in notice


def test_a_sealed_checkpoint_is_bound_to_its_stage_and_run(tmp_path: Path) -> None:
    """A sealed checkpoint copied in from another stage's or run's folder under the same name
    does not open (the seal binds stage, fingerprint and name); the error says what to do."""
    import shutil

    from lockgate.engine.sealing import Sealer, SealError

    sealer = Sealer.from_key(bytes(range(32)))
    mine = CheckpointStore(tmp_path / "train" / "A", sealer=sealer, stage="train", run_key="A")
    mine.save({"global_step": 4, "who": torch.tensor([1.0])})
    assert mine.load_latest()["global_step"] == 4
    for stage, key in (("other", "A"), ("train", "B")):
        other = CheckpointStore(tmp_path / stage / key, sealer=sealer, stage=stage, run_key=key)
        other.save({"global_step": 8, "who": torch.tensor([666.0])})
        shutil.copyfile(other.path_for(8), mine.path_for(8))
        with pytest.raises(SealError) as caught:
            mine.load_latest()
        assert str(caught.value) == (
            f"{mine.path_for(8)}: does not open as a checkpoint of stage 'train' and this run's "
            "fingerprint (altered, or copied from another stage or run); delete it or set "
            "resume: false"
        )


def test_a_checkpoint_sealed_under_its_bare_name_is_refused_in_one_line(tmp_path: Path) -> None:
    """Before the binding, checkpoints were sealed (as one message) under their file name
    alone: such a file may be another run's, so it is refused, saying what to do."""
    from lockgate.engine.sealing import Sealer, SealError

    sealer = Sealer.from_key(bytes(range(32)))
    store = CheckpointStore(tmp_path / "ck", sealer=sealer, stage="train", run_key="A")
    store.folder.mkdir()
    import io

    buf = io.BytesIO()
    torch.save({"global_step": 3, "fingerprint": "A"}, buf)
    store.path_for(3).write_bytes(sealer.seal(buf.getbuffer(), "step-00000003.pt"))
    with pytest.raises(
        SealError,
        match=r"sealed by an older lockgate, bound to its file name "
        r"only \(maybe another run's\); delete it or set resume: false$",
    ):
        store.load_latest()
    # one sealed as one message under the bound name (a small one, where there is no memfd)
    store.path_for(3).write_bytes(
        sealer.seal(buf.getbuffer(), store.sealed_name(store.path_for(3)))
    )
    assert store.load_latest()["global_step"] == 3


def test_a_sealed_checkpoint_is_written_in_segments(tmp_path: Path) -> None:
    """Sealed in the segmented layout (each segment its own GCM message), so a checkpoint of
    2 GiB or more still seals: one AES-GCM message caps at 2**31 - 1 bytes. (A real 2 GiB
    checkpoint is not written here: that needs 4 GiB of memory on a shared test machine.)"""
    from lockgate.engine import sealed_file
    from lockgate.engine.sealing import Sealer

    sealer = Sealer.from_key(bytes(range(32)))
    store = CheckpointStore(tmp_path / "ck", sealer=sealer, stage="train", run_key="A")
    w = torch.randn(3 << 20)  # 12 MiB: three segments
    store.save({"global_step": 5, "w": w})
    assert store.path_for(5).read_bytes().startswith(sealed_file.MAGIC)
    assert torch.equal(store.load_latest()["w"], w)
