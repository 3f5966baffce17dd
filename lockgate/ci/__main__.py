"""``python -m lockgate.ci ...``: the ``lockgate ci`` commands on their own."""

from __future__ import annotations

import argparse
import sys

from lockgate.ci.cli import add_arguments, ci_command
from lockgate.errors import LockgateError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lockgate ci", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return ci_command(args)
    except LockgateError as exc:
        print(f"lockgate: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
