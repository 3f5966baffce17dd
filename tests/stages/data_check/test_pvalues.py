"""p-values against closed forms."""

from __future__ import annotations

import math

import pytest

from lockgate.stages.data_check.pvalues import chi2_homogeneity, ks_pvalue


@pytest.mark.parametrize("stat", [0.5, 2.0, 7.5, 30.0])
def test_chi2_with_two_degrees_of_freedom_is_exponential(stat: float) -> None:
    # three categories, two samples: 2 degrees of freedom, where P(X > x) = exp(-x / 2);
    # find counts giving the statistic, then compare.
    ref = [1000.0, 1000.0, 1000.0]
    for delta in range(0, 400):
        cur = [1000.0 + delta, 1000.0 - delta, 1000.0]
        got, p = chi2_homogeneity(ref, cur)
        if got >= stat:
            assert p == pytest.approx(math.exp(-got / 2), rel=1e-9)
            return
    pytest.fail("no counts reached the statistic")


def test_chi2_one_degree_matches_erfc() -> None:
    got, p = chi2_homogeneity([500.0, 500.0], [560.0, 440.0])
    assert p == pytest.approx(math.erfc(math.sqrt(got / 2)), rel=1e-9)


def test_ks_pvalue_limits() -> None:
    assert ks_pvalue(0.0, 100, 100) == 1.0
    assert ks_pvalue(0.5, 10_000, 10_000) < 1e-100
    assert 0.1 < ks_pvalue(0.05, 1000, 1000) < 0.2  # Kolmogorov's Q at λ≈1.12 is 0.16
