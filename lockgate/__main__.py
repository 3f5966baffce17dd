"""Entry point: parse, dispatch, and map every outcome to one exit code."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from lockgate.commands import dispatch
    from lockgate.errors import EXIT_BUG, EXIT_INTERRUPTED, LockgateError

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # CI cancels with SIGTERM: stop containers like Ctrl-C does

    signal.signal(signal.SIGTERM, _terminate)
    try:
        return dispatch(argv)
    except LockgateError as exc:
        print(f"lockgate: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lockgate: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 1
    except Exception as exc:  # a bug in lockgate: say so, keep the traceback out of the way
        import os
        import tempfile
        import traceback

        fd, path = tempfile.mkstemp(prefix="lockgate-crash-", suffix=".txt")
        with os.fdopen(fd, "w") as f:
            traceback.print_exc(file=f)
        print(
            f"lockgate: internal error: {type(exc).__name__}: {exc}\n"
            f"lockgate: this is a bug in lockgate; the traceback is in {path}",
            file=sys.stderr,
        )
        return EXIT_BUG


if __name__ == "__main__":
    sys.exit(main())
