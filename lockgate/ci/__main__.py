"""``python -m lockgate.ci ...``: the ``lockgate ci`` commands on their own."""

from __future__ import annotations

import argparse
import sys

from lockgate.commands.ci import add_arguments, run
from lockgate.errors import LockgateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockgate ci", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except LockgateError as exc:
        print(f"lockgate: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
