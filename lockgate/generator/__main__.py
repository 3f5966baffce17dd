"""``python -m lockgate.generator PROVIDER ...``: the ``lockgate generate`` command on its own."""

from __future__ import annotations

import argparse
import sys

from lockgate.commands.generate import add_arguments, run
from lockgate.errors import LockgateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockgate generate", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LockgateError as exc:
        print(f"lockgate: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
