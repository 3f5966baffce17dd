"""Moments merged batch by batch against numpy over the whole column."""

from __future__ import annotations

import pytest

from lockgate.stages.data_check.partials import mean_std, merge


def _moments(values: list[float], *, spread: bool) -> dict[str, float | int | None]:
    import numpy as np

    array = np.asarray(values)
    m2 = float(((array - array.mean()) ** 2).sum()) if spread else None
    return {"n": len(values), "mean": float(array.mean()), "m2": m2}


@pytest.mark.parametrize("spread", [True, False], ids=["reference", "current"])
def test_moments_merged_in_batches_equal_the_whole_column(spread: bool) -> None:
    """The reference's spread merges to numpy's standard deviation; a side whose spread is not
    computed (the current data's) merges its mean alone and reports no standard deviation."""
    import numpy as np

    rng = np.random.default_rng(2)
    values = rng.normal(3.0, 2.0, 1_000).tolist()
    running = None
    for start in range(0, len(values), 300):
        batch = _moments(values[start : start + 300], spread=spread)
        running = batch if running is None else merge("moments", running, batch)
    mean, std = mean_std(running)
    assert mean == pytest.approx(float(np.mean(values)), rel=1e-12)
    if spread:
        assert std == pytest.approx(float(np.std(values, ddof=1)), rel=1e-12)
    else:
        assert std is None and running is not None and running["m2"] is None
