"""One family of errors a user can cause, and the exit codes they map to.

Library code raises; only :func:`lockgate.__main__.main` turns an error into a message and an
exit code. A message says *where* (file:line:col, field path, image, stage) and *what to do*.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # a stage, gate or check said no
EXIT_USAGE = 2  # bad input: spec, flags, files
EXIT_BUG = 3  # an unexpected exception: a bug in lockgate
EXIT_INTERRUPTED = 130


class LockgateError(Exception):
    """An error the user can fix. ``str()`` is the whole message, one line where possible."""

    exit_code = EXIT_USAGE


class SpecError(LockgateError):
    """A lockgate.yaml that does not load or validate."""


class ExecutorUnavailable(LockgateError):
    """The requested executor cannot run here (no engine, no SDK)."""


class StageFailed(LockgateError):
    """A stage exited non-zero, timed out, or did not write a declared output."""

    exit_code = EXIT_FAILED


class GateRefused(LockgateError):
    """A policy gate (scan, verify, approval, evaluation) refused."""

    exit_code = EXIT_FAILED


MAX_LINE = 2000  # characters of one line of an error message


def clipped(text: str, limit: int = MAX_LINE) -> str:
    """``text`` with every line cut to ``limit`` characters: a message that quotes the user's
    input (a 1 MB value, a 30,000-item list) stays readable and does not flood a CI log."""
    lines = []
    for line in text.splitlines() or [""]:
        if len(line) > limit:
            line = f"{line[:limit]}... ({len(line) - limit:,} more characters)"
        lines.append(line)
    return "\n".join(lines)
