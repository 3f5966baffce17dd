"""Entry point: parse, dispatch, and map every outcome to one exit code."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from lockgate.commands import dispatch
    from lockgate.errors import EXIT_BUG, EXIT_INTERRUPTED, LockgateError, clipped

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # CI cancels with SIGTERM: stop containers like Ctrl-C does

    # put back on return: a program that calls main() keeps its own SIGTERM handling after it
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return dispatch(argv)
    except LockgateError as exc:
        print(f"lockgate: error: {clipped(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lockgate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug in lockgate: say so, keep the traceback out of the way
        report_bug(exc)
        return EXIT_BUG
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_bug(exc: Exception) -> None:
    """Where the traceback of a bug goes: inside a stage, into the stage's own output (which the
    runner keeps in ``.lockgate/runs/<run>/<stage>/log.txt``, or sealed in ``log.txt.sealed``,
    on the host, readable after the container is gone); elsewhere, a crash file under the
    temporary folder."""
    import os
    import tempfile
    import traceback

    if os.environ.get("LOCKGATE_STAGE") and os.environ.get("LOCKGATE_OUT"):
        traceback.print_exc(file=sys.stderr)
        where = "above, in this stage's log"
    else:
        fd, where = tempfile.mkstemp(prefix="lockgate-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        where = f"in {where}"
    print(
        f"lockgate: internal error: {type(exc).__name__}: {exc}\n"
        f"lockgate: this is a bug in lockgate; the traceback is {where}",
        file=sys.stderr,
    )


def entry() -> None:
    """The ``lockgate`` command (and ``python -m lockgate``): :func:`main`, then exit. A process
    that ran a built-in stage which needs no teardown (``commands.stage.QUICK_EXIT``) ends at
    once after flushing its output; any other ends through the interpreter's own exit."""
    code = main()
    stage = sys.modules.get("lockgate.commands.stage")
    if stage is not None and stage.finished.code is not None:
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
