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
