"""``lockgate image build|bootstrap``."""

from __future__ import annotations

import argparse
import sys

from lockgate.commands.project import add_spec_argument, load_project
from lockgate.errors import LockgateError


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
    from lockgate.images.bootstrap_cli import add_arguments as add_bootstrap_arguments

    add_bootstrap_arguments(boot)


def run(args: argparse.Namespace) -> int:
    if args.action == "bootstrap":
        from lockgate.images.bootstrap_cli import bootstrap_command

        return bootstrap_command(args)
    return _build(args)


def _build(args: argparse.Namespace) -> int:
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
