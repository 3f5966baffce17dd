"""``lockgate image build|prune|bootstrap``.

``bootstrap`` needs only the standard library (it runs before the test tools are installed)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lockgate.commands._options import add_spec_argument, older_than_seconds
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
        help="push to this repository and print REF@sha256:...; when the repository already "
        "holds the image of this recipe, print it and build nothing",
    )
    build.add_argument(
        "--registry-ca", default=None, metavar="PEM", help="CA of a private --push registry"
    )
    build.add_argument(
        "--plain-http", action="store_true", help="the --push registry speaks HTTP, not HTTPS"
    )
    build.add_argument(
        "--read-only",
        action="store_true",
        help="the credentials may only read the --push repository (a fork's pull request): "
        "print REF@sha256:... on a hit; on a miss, build the image here and push nothing",
    )
    build.add_argument(
        "--bootstrap-base",
        action="store_true",
        help="with --push, when the engine lacks the spec's lockgate/debian:SUITE base: pull it "
        "from REGISTRY/NAME/base-debian:SUITE, or bootstrap it from the OS archive and push it "
        "there",
    )
    prune = sub.add_parser(
        "prune",
        help="remove the spec's runner images but those its stages run in now, and the build "
        "stages their builds left",
    )
    add_spec_argument(prune)
    prune.add_argument(
        "--older-than",
        default=None,
        metavar="DURATION",
        help="only images built longer ago than this (e.g. 7d, 12h, 30m)",
    )
    boot = sub.add_parser(
        "bootstrap",
        help="build a minimal Debian base image with debootstrap (no container registry needed)",
    )
    _add_bootstrap_arguments(boot)


def run(args: argparse.Namespace) -> int:
    if args.action == "bootstrap":
        return _bootstrap(args)
    if args.action == "prune":
        return _prune(args)
    return _build(args)


def _prune(args: argparse.Namespace) -> int:
    import time

    from lockgate.commands._project import load_project
    from lockgate.executors.docker import DockerExecutor
    from lockgate.images.prune import prune_runner_images

    older = older_than_seconds(args.older_than) if args.older_than else None
    project = load_project(args)
    current = {stage.image.tag for stage in project.plan().stages}
    if not current:
        raise LockgateError("the spec has no stages, so no runner images")
    client = DockerExecutor(project.root).client
    pruned = prune_runner_images(client, current, older, now=time.time())
    for tag in pruned.images:
        print(f"removed {tag}")
    for tag in pruned.in_use:
        print(f"kept {tag}: a container uses it (remove the container, then prune again)")
    stages = f" and {pruned.stages} build stage{'s' if pruned.stages != 1 else ''}"
    freed = "" if pruned.freed_bytes is None else f", {pruned.freed_bytes / 2**20:,.0f} MiB freed"
    images = len(pruned.images)
    print(f"removed {images} runner image{'s' if images != 1 else ''}{stages}{freed}")
    return EXIT_OK


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
    if args.push:
        found = _published(args, recipe.digest)
        if found is not None:
            print(f"lockgate: {found} holds this recipe's image; nothing to build", file=sys.stderr)
            print(found)
            return 0
    executor = DockerExecutor(project.root)
    executor.check()

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    if args.push and args.bootstrap_base and not args.read_only and not recipe.dockerfile:
        from lockgate.images.base_mirror import ensure_base, is_own_base

        if recipe.base and is_own_base(recipe.base):
            client = _registry(args, args.push.lower())
            ensure_base(
                recipe.base,
                args.push.lower(),
                executor.client,
                say,
                registry_has=lambda ref: client.find(_parse(ref)) is not None,
            )

    in_use = {stage.image.tag for stage in plan.stages}
    image_id = RunnerImages(executor.client, in_use=in_use).ensure(recipe, say)
    if args.push and args.read_only:
        say(
            f"lockgate: built {recipe.tag} ({image_id}) in this job and pushed nothing: the "
            f"credentials may only read {args.push}"
        )
        return 0
    if args.push:
        print(push_image(executor.client, recipe.tag, args.push, recipe.digest))
    else:
        print(f"{recipe.tag} {image_id}")
    return 0


def _published(args: argparse.Namespace, recipe_digest: str) -> str | None:
    """``REPO@sha256:...`` when the --push repository already holds the recipe's image."""
    from lockgate.images.runner import registry_tag

    repository = args.push.lower()
    if "@" in repository or repository.rsplit("/", 1)[-1].count(":"):
        raise LockgateError(f"--push {args.push}: give a repository without tag or digest")
    ref = _parse(f"{repository}:{registry_tag(recipe_digest)}")
    found = _registry(args, repository).find(ref)
    return f"{repository}@{found.digest}" if found is not None else None


def _parse(ref: str) -> Any:
    from lockgate.supply.image_ref import ImageRef

    return ImageRef.parse(ref)


def _registry(args: argparse.Namespace, repository: str) -> Any:
    """The --push registry's client, with LOCKGATE_REGISTRY_USER/_PASSWORD when set."""
    from lockgate.supply.registry import RegistryClient
    from lockgate.supply.registry_http import RegistryAccess, env_credentials

    access = RegistryAccess(
        _parse(repository + ":x").registry,
        *env_credentials(),
        ca_file=Path(args.registry_ca) if args.registry_ca else None,
        plain_http=args.plain_http,
    )
    return RegistryClient(access)


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
