"""``lockgate image bootstrap``: the command-line face of :mod:`lockgate.images.bootstrap`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lockgate.errors import EXIT_OK, LockgateError
from lockgate.images.bootstrap import (
    DEFAULT_INCLUDE,
    DEFAULT_SUITE,
    DEFAULT_TAG,
    bootstrap_base_image,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``lockgate image bootstrap``."""
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"image tag (default: {DEFAULT_TAG})")
    parser.add_argument(
        "--suite", default=DEFAULT_SUITE, help=f"Debian suite (default: {DEFAULT_SUITE})"
    )
    parser.add_argument(
        "--mirror",
        default=None,
        help="Debian mirror URI (default: the one in this machine's apt sources)",
    )
    parser.add_argument(
        "--include",
        default=",".join(DEFAULT_INCLUDE),
        help="comma-separated extra packages (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where rootfs tarballs are cached (default: ~/.cache/lockgate/base-images)",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="run debootstrap even when a cached rootfs exists"
    )


def bootstrap_command(args: argparse.Namespace) -> int:
    """Run the bootstrap; print the tag and image id. LockgateError propagates to the caller."""
    result = bootstrap_base_image(
        args.tag,
        suite=args.suite,
        mirror=args.mirror,
        include=tuple(p for p in args.include.split(",") if p),
        cache_dir=args.cache_dir,
        rebuild=args.rebuild,
    )
    source = "cached rootfs" if result.rootfs_from_cache else "fresh rootfs"
    print(f"{result.tag} {result.image_id} ({result.suite} from {result.mirror}, {source})")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m lockgate.images.bootstrap``."""
    parser = argparse.ArgumentParser(
        prog="python -m lockgate.images.bootstrap",
        description="Build a Debian base image locally with debootstrap and import it.",
    )
    add_arguments(parser)
    try:
        return bootstrap_command(parser.parse_args(argv))
    except LockgateError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
