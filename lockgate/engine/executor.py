"""The one protocol every executor implements."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from lockgate.engine.stagespec import StagePaths, StageSpec

OutputSink = Callable[[str], None]


@dataclass(frozen=True)
class ExecOutcome:
    exit_code: int
    image_id: str = ""  # the image the stage ran in, as the backend names it
    timed_out: bool = False
    interrupted: bool = False


class Executor(Protocol):
    name: ClassVar[str]

    def check(self) -> None:
        """Raise :class:`~lockgate.errors.ExecutorUnavailable` when this backend cannot run here."""

    def run(
        self,
        spec: StageSpec,
        paths: StagePaths,
        *,
        run_id: str,
        git_sha: str,
        secrets: Mapping[str, str],
        output: OutputSink,
        cancel: threading.Event,
    ) -> ExecOutcome:
        """Run one stage to completion (or timeout, or cancellation)."""
        ...
