"""``lockgate generate {github,gitlab,jenkins,all}``: parse flags, render, then check/update/write.

Everything is rendered (:mod:`lockgate.generator.render`) before anything is written
(:mod:`lockgate.generator.files`), so a bad spec or a failed merge writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from lockgate.commands._options import add_spec_argument
from lockgate.errors import EXIT_FAILED, EXIT_OK, LockgateError

if TYPE_CHECKING:
    from lockgate.generator.rendered import Rendered

CHOICES = ("github", "gitlab", "jenkins", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider", choices=CHOICES, help="CI provider to generate for")
    add_spec_argument(parser)
    parser.add_argument("--out", help="output path (default per provider); not with `all`")
    parser.add_argument(
        "--root", type=Path, help="repository root that paths are relative to (default: cwd)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff if a file is stale"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help="merge into the existing file, keeping its comments and the jobs/keys you added",
    )
    parser.add_argument(
        "--no-image",
        dest="build_image",
        action="store_false",
        help="shell-runner mode: no image job, jobs run on runners that already have lockgate",
    )
    parser.add_argument(
        "--install",
        metavar="SOURCE",
        help="where CI jobs install lockgate from: lockgate==VERSION (default: this version), "
        "git+https://HOST/REPO@<40-hex commit>, or ./DIR of this repository",
    )
    parser.add_argument(
        "--actions",
        metavar="OWNER/REPO@SHA|./",
        help="GitHub: call lockgate's actions/stage from here instead of spelling out steps",
    )
    parser.add_argument(
        "--pin-images",
        action="store_true",
        help="look up the digest of each public image the files name and write it to ci.images "
        "in the spec first, so the files name NAME:TAG@sha256:...",
    )
    parser.add_argument(
        "--pin-from",
        metavar="HOST[/PATH]",
        help="--pin-images: look the images up in this registry mirror instead of Docker Hub",
    )
    parser.add_argument(
        "--registry-ca", metavar="PEM", help="--pin-images: CA of a private --pin-from registry"
    )
    parser.add_argument(
        "--plain-http",
        action="store_true",
        help="--pin-images: the --pin-from registry is on loopback and speaks HTTP",
    )
    parser.add_argument(
        "--require-digests",
        action="store_true",
        help="exit 1 when a file names an image by a floating tag instead of a digest",
    )
    parser.add_argument(
        "--component",
        metavar="HOST/PATH/lockgate@VERSION",
        help="GitLab: include lockgate's CI/CD component instead of writing its hidden jobs",
    )


def run(args: argparse.Namespace, stdout: TextIO | None = None) -> int:
    from lockgate.generator.files import apply_file, target_path, target_text
    from lockgate.generator.render import render_files

    stdout = stdout or sys.stdout
    root = (args.root or Path.cwd()).resolve()
    if args.pin_images:
        _pin_images(args, root, stdout)
    elif args.pin_from or args.registry_ca or args.plain_http:
        raise LockgateError("--pin-from, --registry-ca and --plain-http go with --pin-images")
    files = render_files(
        provider=args.provider,
        spec=args.spec,
        root=root,
        out=args.out,
        build_image=args.build_image,
        actions=args.actions,
        component=args.component,
        install=args.install,
    )
    paths = [target_path(root, f.path) for f in files]  # all checked before any is written
    planned = [(p, target_text(p, f, args.update)) for p, f in zip(paths, files, strict=True)]
    outcomes = [apply_file(path, text, check=args.check, root=root) for path, text in planned]
    for outcome in outcomes:
        rel = outcome.path.relative_to(root)
        if outcome.status == "stale":
            stdout.write(outcome.diff)
            print(
                f"{rel}: stale; run `lockgate generate {args.provider}` to refresh", file=sys.stderr
            )
        elif outcome.status == "written":
            print(f"wrote {rel}", file=stdout)
    unpinned = _report_floating(
        args, [replace(f, text=text) for f, (_, text) in zip(files, planned, strict=True)], root
    )
    stale = any(o.status == "stale" for o in outcomes)
    return EXIT_FAILED if stale or (unpinned and args.require_digests) else EXIT_OK


def _report_floating(args: argparse.Namespace, files: list[Rendered], root: Path) -> bool:
    """One warning per image a file names by a floating tag, and per public base image the
    image job pulls by one; whether there was any."""
    from lockgate.generator.image_audit import floating, floating_bases
    from lockgate.spec.loader import find_spec, load_spec

    uses = floating(files)
    for use in uses:
        print(f"warning: {use.warning(args.provider)}", file=sys.stderr)
    spec_path = (args.spec or find_spec(root)).resolve()
    bases = floating_bases(load_spec(spec_path)) if args.build_image else []
    for field, ref in bases:
        print(
            f"warning: {spec_path.name}: {field} {ref} is a floating tag that the CI image job "
            f"pulls; pin it: write it as {ref}@sha256:<digest>",
            file=sys.stderr,
        )
    return bool(uses or bases)


def _pin_images(args: argparse.Namespace, root: Path, stdout: TextIO) -> None:
    from lockgate.generator.image_audit import floating_bases
    from lockgate.generator.image_pins import images_for, resolve_pins, write_pins
    from lockgate.generator.providers import PROVIDERS
    from lockgate.spec.loader import find_spec, load_spec
    from lockgate.supply.registry import RegistryClient
    from lockgate.supply.registry_http import RegistryAccess

    if args.check:
        raise LockgateError("--pin-images rewrites the spec; run it without --check")
    spec_path = (args.spec or find_spec(root)).resolve()
    pipeline = load_spec(spec_path)  # a broken spec is reported before any registry is asked
    providers = list(PROVIDERS) if args.provider == "all" else [args.provider]
    bases = dict(floating_bases(pipeline)) if args.build_image else {}
    images = [i.image for i in images_for(providers)] + list(bases.values())
    if not images:
        print(f"the {args.provider} files name no public image; nothing to pin", file=stdout)
        return

    def client_for(host: str) -> RegistryClient:
        access = RegistryAccess(
            host,
            ca_file=Path(args.registry_ca) if args.registry_ca else None,
            plain_http=args.plain_http,
        )
        return RegistryClient(access)

    pins = resolve_pins(images, client_for, args.pin_from)
    write_pins(spec_path, pins, bases)
    for pin in pins:
        print(f"pinned {pin.ref} (looked up at {pin.looked_up})", file=stdout)
