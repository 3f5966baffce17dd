"""Reading a serving version's Prometheus ``/metrics`` and turning two scrapes into a window.

Only the serving image's three families matter: ``lockgate_requests_total{code}``,
``lockgate_request_duration_seconds_bucket{le}`` and ``lockgate_predictions_total{label}``.
A counter that went down between scrapes means the process restarted: the later value is the
whole window's count.
"""

from __future__ import annotations

import math
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

K = TypeVar("K")

_LINE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class ScrapeFailed(Exception):
    """The version did not answer /metrics."""


@dataclass(frozen=True)
class Scrape:
    codes: Mapping[str, float] = field(default_factory=dict)
    buckets: Mapping[float, float] = field(default_factory=dict)  # le -> cumulative count
    predictions: Mapping[str, float] = field(default_factory=dict)


def parse_metrics(text: str) -> Scrape:
    codes: dict[str, float] = {}
    buckets: dict[float, float] = {}
    predictions: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        labels = dict(_LABEL.findall(match["labels"] or ""))
        try:
            value = float(match["value"])
        except ValueError:
            continue
        name = match["name"]
        if name == "lockgate_requests_total" and "code" in labels:
            codes[labels["code"]] = codes.get(labels["code"], 0.0) + value
        elif name == "lockgate_request_duration_seconds_bucket" and "le" in labels:
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
        elif name == "lockgate_predictions_total" and "label" in labels:
            predictions[labels["label"]] = predictions.get(labels["label"], 0.0) + value
    return Scrape(codes, buckets, predictions)


def scrape(base_url: str, timeout: float = 2.0) -> Scrape:
    try:
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout) as answer:
            return parse_metrics(answer.read().decode())
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise ScrapeFailed(f"{base_url}/metrics: {error}") from None


def _delta(after: Mapping[K, float], before: Mapping[K, float]) -> dict[K, float]:
    restarted = any(after.get(k, 0.0) < v for k, v in before.items())
    if restarted:
        return dict(after)
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


@dataclass(frozen=True)
class Window:
    """What one version did between two scrapes."""

    codes: Mapping[str, float]
    buckets: Mapping[float, float]
    predictions: Mapping[str, float]

    @property
    def requests(self) -> float:
        return sum(self.codes.values())

    @property
    def errors(self) -> float:
        return sum(n for code, n in self.codes.items() if code.startswith("5"))

    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def quantile_ms(self, q: float) -> float | None:
        return histogram_quantile(q, self.buckets)


def window(before: Scrape, after: Scrape) -> Window:
    return Window(
        codes=_delta(after.codes, before.codes),
        buckets=_delta(after.buckets, before.buckets),
        predictions=_delta(after.predictions, before.predictions),
    )


def histogram_quantile(q: float, buckets: Mapping[float, float]) -> float | None:
    """Prometheus-style quantile (linear within the bucket), in milliseconds."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    total = buckets[bounds[-1]]
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower * 1000.0  # the highest finite bound, as Prometheus does
            inside = count - below
            fraction = (rank - below) / inside if inside else 1.0
            return (lower + (bound - lower) * fraction) * 1000.0
        lower, below = bound, count
    return lower * 1000.0
