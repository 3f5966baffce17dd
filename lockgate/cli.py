"""The command line: parsing only. Each command lives in its own module and is imported when
it runs, so ``lockgate --help`` loads none of the heavy libraries."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

import lockgate

# command -> (module:function, one-line help); the module also provides add_arguments(parser)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "lockgate.commands.validate:run",
        "check lockgate.yaml; errors name file:line:col",
    ),
    "plan": (
        "lockgate.commands.plan:run",
        "show the stages in order, what is cached, what will run",
    ),
    "run": ("lockgate.commands.run:run", "run the pipeline, or some stages of it"),
    "stage": ("lockgate.commands.stage:run", "run a built-in stage here (inside the runner image)"),
    "cache-key": (
        "lockgate.commands.cache_key:run",
        "print a stage's cache key (for CI cache steps)",
    ),
    "cache": ("lockgate.commands.cache:run", "manage the stage cache (prune)"),
    "schema": ("lockgate.commands.schema:run", "print the JSON Schema of lockgate.yaml"),
    "image": ("lockgate.commands.image:run", "build the runner image, or bootstrap a base image"),
    "generate": (
        "lockgate.generator.cli:generate_command",
        "write GitHub Actions, GitLab CI or Jenkins files that run the stages",
    ),
    "report": (
        "lockgate.report_cli:report_command",
        "one Markdown report of a run's stages, for a PR/MR comment or job summary",
    ),
    "verify": (
        "lockgate.supply.verify_cli:verify_command",
        "check an image's signature, attestations and scan verdict before it deploys",
    ),
    "approve": (
        "lockgate.commands.approve:run",
        "approve (or revoke) one image digest for one environment",
    ),
    "promote": ("lockgate.commands.promote:run", "verify, gate, deploy and record a release"),
    "rollout": (
        "lockgate.commands.rollout:run",
        "canary / blue-green rollout of an image into an environment: start|resume|abort|status",
    ),
    "monitor": (
        "lockgate.commands.monitor:run",
        "watch the live version; roll back on a sustained breach",
    ),
    "health": (
        "lockgate.commands.health:run",
        "record whether an environment's release is healthy",
    ),
    "rollback": (
        "lockgate.commands.rollback:run",
        "go back to the previous release that ran healthy",
    ),
    "history": ("lockgate.commands.history:run", "what was released where, and when (--at TIME)"),
    "lineage": ("lockgate.commands.lineage:run", "image, model, run and data behind a release"),
    "audit": (
        "lockgate.commands.audit:run",
        "check that the release ledger is complete and intact",
    ),
    "ci": ("lockgate.ci.cli:ci_command", "steps the generated CI files call (not for humans)"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lockgate",
        description="Run an ML pipeline's containerized, gated stages the same way on a laptop "
        "and in CI.",
    )
    parser.add_argument("--version", action="version", version=f"lockgate {lockgate.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def dispatch(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # Parse the command name first, then let only that command's module add its options.
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        parser.print_help()
        return 2
    target, help_text = COMMANDS[args.command]
    module_name, func_name = target.split(":")
    module = importlib.import_module(module_name)
    sub = argparse.ArgumentParser(prog=f"lockgate {args.command}", description=help_text)
    module.add_arguments(sub)
    sub_args = sub.parse_args(rest)
    result: int = getattr(module, func_name)(sub_args)
    return result
