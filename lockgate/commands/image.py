"""``lockgate image build|bootstrap``.

``bootstrap`` needs only the standard library (it runs before the test tools are installed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lockgate.commands._options import add_spec_argument
from lockgate.errors import EXIT_OK, LockgateError
from lockgate.images.bootstrap import DEFAULT_INCLUDE, DEFAULT_SUITE, DEFAULT_TAG


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="build the runner image(s) of the spec")
    add_spec_argument(build)
    build.add_argument(
        "--stage", default=None, help="the image of this stage (default: the spec's)"
    )
    build.add_argument(
        "--push",
        default=None,
        metavar="REGISTRY/NAME",
        help="push to this repository and print REF@sha256:...",
    )
    boot = sub.add_parser(
        "bootstrap",
        help="build a minimal Debian base image with debootstrap (no container registry needed)",
    )
    _add_bootstrap_arguments(boot)


def run(args: argparse.Namespace) -> int:
    if args.action == "bootstrap":
        return _bootstrap(args)
    return _build(args)


def _build(args: argparse.Namespace) -> int:
    from lockgate.commands._project import load_project
    from lockgate.executors.docker import DockerExecutor
    from lockgate.images.runner import RunnerImages, push_image

    project = load_project(args)
    plan = project.plan()
    if args.stage:
        recipe = plan.select([args.stage], only=True).stages[0].image
    elif plan.stages:
        recipe = plan.stages[0].image
    else:
        raise LockgateError("the spec has no stages")
    executor = DockerExecutor(project.root)
    executor.check()

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    image_id = RunnerImages(executor.client).ensure(recipe, say)
    if args.push:
        print(push_image(executor.client, recipe.tag, args.push, recipe.digest))
    else:
        print(f"{recipe.tag} {image_id}")
    return 0


def _add_bootstrap_arguments(parser: argparse.ArgumentParser) -> None:
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


def _bootstrap(args: argparse.Namespace) -> int:
    from lockgate.images.bootstrap import bootstrap_base_image

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
