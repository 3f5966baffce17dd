"""Prometheus text-format metrics (exposition format 0.0.4), thread-safe, standard library only.

A canary analysis scrapes two versions and compares request counts by status, latency
histograms and the distribution of predictions, so every series here is cumulative.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
VALUE_BUCKETS = (-10.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 1000.0)

LabelSet = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return "{" + inner + "}" if inner else ""


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass
class Counter:
    name: str
    help: str
    kind: str = "counter"

    def __post_init__(self) -> None:
        self._values: dict[LabelSet, float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[tuple(sorted(labels.items()))] = value

    def render(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{self.name}{_labels(k)} {_number(v)}" for k, v in items]
        return lines


@dataclass
class Histogram:
    name: str
    help: str
    buckets: Sequence[float] = LATENCY_BUCKETS

    def __post_init__(self) -> None:
        self._series: dict[LabelSet, list[float]] = {}  # per-bucket counts, then sum, count
        self._lock = threading.Lock()

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = [0.0] * (len(self.buckets) + 3)
            series[slot] += 1  # slot == len(buckets) is the +Inf-only overflow
            series[-2] += value
            series[-1] += 1

    def render(self) -> list[str]:
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, series in items:
            running = 0.0
            for bound, count in zip((*self.buckets, float("inf")), series, strict=False):
                running += count
                le = (*key, ("le", _number(bound)))
                lines.append(f"{self.name}_bucket{_labels(le)} {_number(running)}")
            lines.append(f"{self.name}_sum{_labels(key)} {_number(series[-2])}")
            lines.append(f"{self.name}_count{_labels(key)} {_number(series[-1])}")
        return lines


class ServingMetrics:
    """Every series the scoring server exposes."""

    def __init__(self) -> None:
        self.requests = Counter(
            "lockgate_requests_total", "Scoring requests (/invocations, /predict) by HTTP status."
        )
        self.errors = Counter(
            "lockgate_request_errors_total",
            "Scoring requests that failed, by kind (bad_request, model_error).",
        )
        self.latency = Histogram(
            "lockgate_request_duration_seconds", "Scoring request latency in seconds."
        )
        self.rows = Counter("lockgate_rows_total", "Input rows scored.")
        self.predictions = Counter(
            "lockgate_predictions_total", "Predictions by predicted label (classifiers)."
        )
        self.values = Histogram(
            "lockgate_prediction_value", "Predicted values (regressors).", VALUE_BUCKETS
        )
        self.in_flight = Counter(
            "lockgate_in_flight_requests", "Scoring requests being served now.", "gauge"
        )
        self.info = Counter("lockgate_model_info", "The model this server serves.", "gauge")
        self.in_flight.set(0)

    def render(self) -> bytes:
        lines: list[str] = []
        for metric in (
            self.info,
            self.requests,
            self.errors,
            self.latency,
            self.rows,
            self.predictions,
            self.values,
            self.in_flight,
        ):
            lines += metric.render()
        return ("\n".join(lines) + "\n").encode()


def parse_exposition(text: str) -> dict[tuple[str, LabelSet], float]:
    """Samples of a text exposition as ``{(name, sorted label pairs): value}`` (the inverse of
    :meth:`ServingMetrics.render`, for scrapers such as a canary analysis)."""
    import re

    sample = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
    pair = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    samples: dict[tuple[str, LabelSet], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = sample.match(line)
        if m is None:
            raise ValueError(f"not a Prometheus sample line: {line!r}")
        labels = tuple(sorted(pair.findall(m.group(2) or "")))
        value = float("inf") if m.group(3) == "+Inf" else float(m.group(3))
        samples[(m.group(1), labels)] = value
    return samples
