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


def test_ranks_get_disjoint_equal_shares() -> None:
    shares = [torch.cat([y for _, y in make(rank=r, world=3).epoch(0)]) for r in range(3)]
    assert len({len(s) for s in shares}) == 1
    union = torch.cat(shares).tolist()
    assert len(union) == len(set(union)) == 102
