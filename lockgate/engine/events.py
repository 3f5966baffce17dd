"""Progress events and the reporters that show them: a terminal view, plain lines for CI logs and
pipes, and a JSON event stream (``--json``)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, TextIO


@dataclass(frozen=True)
class Event:
    kind: (
        str  # run-started, stage-started, stage-cached, stage-output, stage-finished, run-finished
    )
    stage: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


class Reporter(Protocol):
    def emit(self, event: Event) -> None: ...


_STATE_COLOR = {"ok": "32", "cached": "36", "failed": "31", "skipped": "33", "interrupted": "33"}


_ENDS = frozenset({"stage-finished", "stage-cached", "stage-skipped"})


class LineReporter:
    """One line per state change, output lines prefixed with the stage name. Colour only on a
    terminal, never when ``NO_COLOR`` is set or in CI."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        fold: bool | None = None,
    ) -> None:
        self.stream = stream or sys.stderr
        if color is None:
            color = (
                self.stream.isatty() and "NO_COLOR" not in os.environ and not os.environ.get("CI")
            )
        self.color = color
        # Under GitHub Actions each stage's lines fold into a ::group:: (the log's own folding);
        # its outcome line stays outside, so a collapsed log still shows what happened.
        self.fold = os.environ.get("GITHUB_ACTIONS") == "true" if fold is None else fold
        self._open: set[str] = set()
        self._lock = threading.Lock()

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def emit(self, event: Event) -> None:
        line = self.format(event)
        if line is None:
            return
        with self._lock:
            if self.fold and event.kind == "stage-started" and event.stage not in self._open:
                self._open.add(event.stage)
                line = f"::group::{line}"
            elif self.fold and event.stage in self._open and event.kind in _ENDS:
                self._open.discard(event.stage)
                line = f"::endgroup::\n{line}"
            self.stream.write(line + "\n")
            self.stream.flush()

    def format(self, e: Event) -> str | None:
        """The line an event shows as, or None for events that show nothing."""
        d = e.data
        if e.kind == "run-started":
            return (
                f"lockgate: run {d['run_id']} of {d['pipeline']} with the {d['executor']} executor"
            )
        if e.kind == "stage-started":
            return self._paint(f"▶ {e.stage}", "1") + (
                f" (attempt {d['attempt']})" if d.get("attempt", 1) > 1 else ""
            )
        if e.kind == "stage-output":
            return f"{self._paint(e.stage, '2')} │ {d['line']}"
        if e.kind in {"stage-finished", "stage-cached", "stage-skipped"}:
            state = d["state"]
            mark = {"ok": "✔", "cached": "✔", "failed": "✘", "skipped": "-", "interrupted": "■"}[
                state
            ]
            extra = f" {d['duration']:.2f}s" if "duration" in d else ""
            why = f" — {d['reason']}" if d.get("reason") else ""
            return self._paint(f"{mark} {e.stage} {state}{extra}{why}", _STATE_COLOR[state])
        if e.kind == "run-finished":
            counts = ", ".join(f"{n} {k}" for k, n in sorted(d["counts"].items()) if n)
            return (
                f"lockgate: {d['state']} in {d['duration']:.2f}s ({counts}); record: {d['record']}"
            )
        if e.kind == "image-started":
            return self._paint(f"▶ image {d['image']}", "1")
        if e.kind == "image-output":
            return f"{self._paint('image', '2')} │ {d['line']}"
        if e.kind == "image-finished":
            how = "built" if d.get("built") else "ready"
            return self._paint(f"✔ image {d['image']} {how} {d['duration']:.2f}s", "36")
        if e.kind == "warning":
            return self._paint(f"warning: {d['message']}", "33")
        return None


class JsonReporter:
    """One JSON object per line on stdout: a stable, machine-readable event stream."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.stream.write(json.dumps(asdict(event), sort_keys=True) + "\n")
            self.stream.flush()
