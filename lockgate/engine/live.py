"""The terminal view: a live list of image builds and stages with their state and a running
timer, redrawn in place under the stream of output lines (``rich``, imported only when the
output is a terminal). CI logs and pipes keep :class:`~lockgate.engine.events.LineReporter`."""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, TextIO

from lockgate.engine.events import Event, LineReporter

_MARK = {"waiting": "·", "running": "▶", "ok": "✔", "cached": "✔", "failed": "✘"}
_MARK.update({"skipped": "-", "interrupted": "■", "built": "✔", "ready": "✔"})
_STYLE = {"ok": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}
_STYLE.update({"interrupted": "yellow", "running": "bold", "built": "green", "ready": "cyan"})


def wants_live(stream: TextIO) -> bool:
    return stream.isatty() and not os.environ.get("CI") and os.environ.get("TERM") != "dumb"


class LiveReporter:
    """Output lines and state changes scroll as :class:`LineReporter` prints them; below them a
    list of every step (image builds first) with its state and elapsed time stays in place."""

    def __init__(self, stream: TextIO | None = None, *, refresh_per_second: float = 8) -> None:
        from rich.console import Console
        from rich.live import Live

        self.stream = stream or sys.stderr
        self.lines = LineReporter(self.stream, color=False)
        self.console = Console(file=self.stream, force_terminal=True)
        self.rows: dict[str, dict[str, Any]] = {}  # step -> state, started, duration, detail
        self._lock = threading.Lock()
        self.live = Live(
            self, console=self.console, refresh_per_second=refresh_per_second, transient=True
        )

    def __rich__(self) -> Any:
        from rich.table import Table

        table = Table.grid(padding=(0, 1))
        now = time.monotonic()
        with self._lock:
            for step, row in self.rows.items():
                state = row["state"]
                took = row.get("duration")
                if took is None and row.get("started") is not None:
                    took = now - row["started"]
                timer = f"{took:6.1f}s" if took is not None else ""
                style = _STYLE.get(state, "")
                table.add_row(
                    f"[{style}]{_MARK.get(state, '?')}[/]",
                    step,
                    f"[{style}]{state}[/]",
                    timer,
                    row.get("detail", ""),
                )
        return table

    def _set(self, step: str, **values: Any) -> None:
        with self._lock:
            self.rows.setdefault(step, {"state": "waiting"}).update(values)

    def emit(self, event: Event) -> None:
        d, kind = event.data, event.kind
        if kind == "run-started":
            for name in d.get("stages", []):
                self._set(name)
            self.live.start()
        elif kind == "image-started":
            self._set(f"image {d['image']}", state="running", started=time.monotonic())
        elif kind == "image-finished":
            built = "built" if d.get("built") else "ready"
            self._set(f"image {d['image']}", state=built, duration=d["duration"])
        elif kind == "stage-started":
            self._set(event.stage, state="running", started=time.monotonic(), detail="")
        elif kind == "stage-output":
            self._set(event.stage, detail=str(d["line"])[:60])
        elif kind in {"stage-finished", "stage-cached", "stage-skipped"}:
            self._set(event.stage, state=d["state"], duration=d.get("duration"), detail="")
        line = self.lines.format(event)
        if line is not None:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        if kind == "run-finished":
            self.live.stop()
            self.console.print(self, highlight=False)  # the final list stays on screen
