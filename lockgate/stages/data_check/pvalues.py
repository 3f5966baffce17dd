"""Asymptotic p-values of the two-sample KS and chi-square tests.

Reported next to the drift metrics, never used as gates: on large tables they call trivial
shifts significant. Closed forms only, so no statistics package is needed.
"""

from __future__ import annotations

import math


def ks_pvalue(statistic: float, n_reference: int, n_current: int) -> float:
    """P(D > statistic) for the two-sample KS test (Kolmogorov's limiting distribution)."""
    if n_reference == 0 or n_current == 0 or statistic <= 0:
        return 1.0
    n_eff = n_reference * n_current / (n_reference + n_current)
    lam = (math.sqrt(n_eff) + 0.12 + 0.11 / math.sqrt(n_eff)) * statistic
    total = sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(max(2 * total, 0.0), 1.0)


def _upper_gamma_regularized(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a): series below a + 1, continued fraction above."""
    if x <= 0:
        return 1.0
    log_prefix = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = a
        for _ in range(1000):
            n += 1
            term *= x / n
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return min(1.0, math.exp(log_prefix) * h)


def chi2_homogeneity(reference: list[float], current: list[float]) -> tuple[float, float]:
    """Chi-square statistic and p-value for two count vectors over the same categories."""
    n_ref, n_cur = sum(reference), sum(current)
    if n_ref == 0 or n_cur == 0:
        return 0.0, 1.0
    total = n_ref + n_cur
    stat, cells = 0.0, 0
    for r, c in zip(reference, current, strict=True):
        column = r + c
        if column == 0:
            continue
        cells += 1
        for observed, n in ((r, n_ref), (c, n_cur)):
            expected = column * n / total
            stat += (observed - expected) ** 2 / expected
    dof = cells - 1
    return stat, (1.0 if dof <= 0 else _upper_gamma_regularized(dof / 2, stat / 2))
