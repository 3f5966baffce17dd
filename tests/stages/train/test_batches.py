from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from lockgate.stages.train.batches import BatchSource  # noqa: E402


def make(n: int = 103, rank: int = 0, world: int = 1) -> BatchSource:
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1)
    return BatchSource.build(x, torch.arange(n), 10, torch.device("cpu"), "auto", 4, rank, world)


def test_epoch_covers_every_sample_once_in_a_seeded_order() -> None:
    src = make()
    batches = list(src.epoch(0))
    assert len(batches) == src.steps_per_epoch() == 11
    seen = torch.cat([y for _, y in batches])
    assert sorted(seen.tolist()) == list(range(103))
    assert torch.equal(seen, torch.cat([y for _, y in make().epoch(0)]))  # same seed, same order
    assert not torch.equal(seen, torch.cat([y for _, y in src.epoch(1)]))  # new epoch, new order


def test_resume_skips_exactly_the_consumed_batches() -> None:
    src = make()
    full = [y for _, y in src.epoch(2)]
    rest = [y for _, y in src.epoch(2, start_step=4)]
    assert all(torch.equal(a, b) for a, b in zip(full[4:], rest, strict=True))


def test_ranks_get_equal_shares_and_no_sample_is_dropped() -> None:
    """103 rows on 3 ranks: as DistributedSampler, the order is padded with its first 2 samples
    to 105, so every rank takes 35 and every row is trained on (2 of them twice)."""
    shares = [torch.cat([y for _, y in make(rank=r, world=3).epoch(0)]) for r in range(3)]
    assert {len(s) for s in shares} == {35}
    assert make(rank=0, world=3).steps_per_epoch() == 4
    union = torch.cat(shares).tolist()
    assert set(union) == set(range(103)) and len(union) == 105


def test_amp_probe_gathers_its_batches_one_at_a_time() -> None:
    """The probe's batches come lazily, one held at a time, not (steps + 3) gathered up front;
    and a rank with no batch (fewer rows than workers) ends the probe instead of looping."""
    import gc
    import weakref

    from lockgate.stages.train.amp_probe import probe_batches

    alive: list[weakref.ref] = []
    most = 0
    for xb, _yb in probe_batches(make(), 33):  # 11 batches an epoch: 3 epochs' worth
        alive.append(weakref.ref(xb))
        del xb, _yb
        gc.collect()
        most = max(most, sum(r() is not None for r in alive))
    assert len(alive) == 33 and most <= 1
    empty = BatchSource.build(torch.zeros(0, 1), torch.zeros(0), 10, torch.device("cpu"), "auto", 4)
    assert list(probe_batches(empty, 33)) == []
