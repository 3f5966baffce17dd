"""``lockgate ci login|image|cache-key|summary|outputs|inputs``.

Each command wraps one lockgate command or one file move and checks what crosses a job
boundary: only ``ref@sha256:`` digests and 64-hex cache keys leave a job as outputs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lockgate.ci.outputs import CACHE_KEY, DIGEST_REF, CiOutputError, emit
from lockgate.ci.summary import render_summary
from lockgate.errors import EXIT_OK, LockgateError

Run = Callable[[Sequence[str], str | None], str]


def run_command(argv: Sequence[str], stdin: str | None = None) -> str:
    """Run ``argv``; return its stdout; a failure is a LockgateError naming the command. What
    the command says on stderr (progress, a registry hit) reaches the job log."""
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, check=False)
    if done.returncode == 0 and done.stderr:
        sys.stderr.write(done.stderr)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise LockgateError(f"`{' '.join(argv[:3])} ...` failed ({done.returncode}): {tail[0]}")
    return done.stdout


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="ci_command", required=True)
    login = sub.add_parser(
        "login", help="store LOCKGATE_REGISTRY_USER/_PASSWORD in the docker config (no CLI needed)"
    )
    login.add_argument("--registry", required=True)
    image = sub.add_parser("image", help="build and push the runner image; output its digest")
    image.add_argument("--spec")
    image.add_argument("--push", required=True, metavar="REGISTRY/NAME")
    image.add_argument("--output", default="plain", help="github | dotenv=FILE | plain")
    image.add_argument(
        "--read-only",
        action="store_true",
        help="no write token (a fork's pull request): on a miss, build here and output no image",
    )
    image.add_argument(
        "--bootstrap-base",
        action="store_true",
        help="a missing lockgate/debian base comes from the registry or the OS archive",
    )
    key = sub.add_parser("cache-key", help="output a stage's cache key")
    key.add_argument("stage")
    key.add_argument("--spec")
    key.add_argument("--upstream-dir")
    key.add_argument("--output", default="plain")
    summary = sub.add_parser("summary", help="show a stage's report.md where people look")
    summary.add_argument("stage")
    summary.add_argument("--export-dir", required=True, type=Path)
    summary.add_argument("--output", default="plain", help="github | gitlab | jenkins | plain")
    outs = sub.add_parser("outputs", help="a finished stage's digest, verdict and report path")
    outs.add_argument("stage")
    outs.add_argument("--export-dir", required=True, type=Path)
    outs.add_argument("--output", default="plain", help="github | dotenv=FILE | plain")
    inputs = sub.add_parser(
        "inputs",
        help="move downloaded lockgate-NAME artifacts to NAME/ (their wrapped data keys, "
        "lockgate--keys-NAME, to .lockgate-keys/)",
    )
    inputs.add_argument("--needs", default="", help="space-separated upstream stage names")
    inputs.add_argument("--from", dest="source", required=True, type=Path)
    inputs.add_argument("--to", dest="target", required=True, type=Path)
    inputs.add_argument(
        "--present",
        action="store_true",
        help="skip stages with no artifact (skipped or failed early) instead of failing",
    )


def run(args: argparse.Namespace, runner: Run = run_command) -> int:
    handlers = {
        "login": _login,
        "image": _image,
        "cache-key": _cache_key,
        "summary": _summary,
        "inputs": _inputs,
        "outputs": _outputs,
    }
    return handlers[args.ci_command](args, runner)


def _login(args: argparse.Namespace, run: Run) -> int:
    from lockgate.supply.registry_http import env_credentials

    user, password = env_credentials()
    if not user or not password:
        raise LockgateError("ci login: set LOCKGATE_REGISTRY_USER and LOCKGATE_REGISTRY_PASSWORD")
    from lockgate.supply.docker_config import store_credentials

    host = args.registry.split("/", 1)[0]
    path = store_credentials(host, user, password)
    print(f"credentials for {host} stored in {path}")
    return EXIT_OK


def _image(args: argparse.Namespace, run: Run) -> int:
    name = args.push.lower()  # registries refuse upper case; GitHub repository names have it
    argv = ["lockgate", "image", "build", *_spec(args), "--push", name]
    if args.bootstrap_base:
        argv.append("--bootstrap-base")
    if args.read_only:
        argv.append("--read-only")
    lines = [line.strip() for line in run(argv, None).splitlines() if line.strip()]
    ref = lines[-1] if lines else ""
    if args.read_only and not ref:
        # Built in this job, pushed nowhere: no other job can run it, so none is named.
        print(
            "lockgate: the runner image was built but not pushed (no write token); the stage "
            "jobs are skipped: re-run the pipeline from a branch of this repository",
            file=sys.stderr,
        )
        print(
            emit(args.output, github_name="image", dotenv_name="LOCKGATE_IMAGE", value=""), end=""
        )
        return EXIT_OK
    if not DIGEST_REF.match(ref):
        raise CiOutputError(
            f"ci image: expected `lockgate image build` to print REF@sha256:<64 hex>, got {ref!r}"
        )
    print(emit(args.output, github_name="image", dotenv_name="LOCKGATE_IMAGE", value=ref), end="")
    return EXIT_OK


def _spec(args: argparse.Namespace) -> list[str]:
    return ["--spec", args.spec] if args.spec else []


def _cache_key(args: argparse.Namespace, run: Run) -> int:
    argv = ["lockgate", "cache-key", args.stage, *_spec(args)]
    if args.upstream_dir:
        argv += ["--upstream-dir", args.upstream_dir]
    key = run(argv, None).strip()
    if not CACHE_KEY.match(key):
        raise CiOutputError(f"ci cache-key: expected 64 hex characters, got {key[:80]!r}")
    print(emit(args.output, github_name="key", dotenv_name="LOCKGATE_CACHE_KEY", value=key), end="")
    return EXIT_OK


def _summary(args: argparse.Namespace, run: Run) -> int:
    text = render_summary(args.stage, args.export_dir)
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if args.output == "github" and summary_file:
        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(text + "\n")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _outputs(args: argparse.Namespace, run: Run) -> int:
    from lockgate.ci.stage_outputs import stage_outputs

    for name, value in stage_outputs(args.stage, args.export_dir).items():
        line = emit(
            args.output, github_name=name, dotenv_name=f"LOCKGATE_{name.upper()}", value=value
        )
        print(line, end="")
    return EXIT_OK


def _inputs(args: argparse.Namespace, run: Run) -> int:
    args.target.mkdir(parents=True, exist_ok=True)
    for need in args.needs.split():
        source = args.source / f"lockgate-{need}"
        if not source.is_dir() and args.present:
            continue
        if not source.is_dir():
            raise LockgateError(f"ci inputs: no artifact lockgate-{need} under {args.source}")
        destination = args.target / need
        if destination.exists():
            shutil.rmtree(destination)
        shutil.move(str(source), str(destination))
        _wrapped_keys(args.source / f"lockgate--keys-{need}", args.target)
    return EXIT_OK


def _wrapped_keys(source: Path, target: Path) -> None:
    """An upstream's wrapped data keys (a KMS key seals its outputs), uploaded as
    ``lockgate--keys-NAME``, into ``TARGET/.lockgate-keys``: lockgate looks for the key of a
    sealed file in a ``.lockgate-keys`` folder beside it or above it."""
    if not source.is_dir():
        return
    from lockgate.engine.kms.envelope import KEYS

    folder = target / KEYS
    folder.mkdir(parents=True, exist_ok=True)
    for key in sorted(source.glob("*.json")):
        os.replace(key, folder / key.name)
