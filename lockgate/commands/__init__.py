"""The command line. Every command is one module here with ``add_arguments(parser)`` and
``run(args) -> exit code``; it is imported only when it runs, so ``lockgate --help`` loads none
of the heavy libraries. Modules whose names start with ``_`` are shared helpers, not commands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import lockgate

# command -> (module under lockgate.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "validate",
        "check lockgate.yaml; errors name file:line:col",
    ),
    "plan": (
        "plan",
        "show the stages in order, what is cached, what will run",
    ),
    "run": ("run", "run the pipeline, or some stages of it"),
    "stage": ("stage", "run a built-in stage here (inside the runner image)"),
    "cache-key": (
        "cache_key",
        "print a stage's cache key (for CI cache steps)",
    ),
    "cache": ("cache", "manage the stage cache (prune)"),
    "schema": ("schema", "print the JSON Schema of lockgate.yaml"),
    "image": ("image", "build or prune runner images, or bootstrap a base image"),
    "generate": (
        "generate",
        "write GitHub Actions, GitLab CI or Jenkins files that run the stages",
    ),
    "log": ("log", "print what a stage printed in a run (opens a sealed log)"),
    "report": (
        "report",
        "one Markdown report of a run's stages, for a PR/MR comment or job summary",
    ),
    "verify": (
        "verify",
        "check an image's signature, attestations and scan verdict before it deploys",
    ),
    "approve": (
        "approve",
        "approve (or revoke) one image digest for one environment",
    ),
    "promote": ("promote", "verify, gate, deploy and record a release"),
    "rollout": (
        "rollout",
        "canary / blue-green rollout: start|resume|promote|retry|abort|status",
    ),
    "monitor": (
        "monitor",
        "watch the live version; roll back on a sustained breach",
    ),
    "health": (
        "health",
        "record whether an environment's release is healthy",
    ),
    "rollback": (
        "rollback",
        "go back to the previous release that ran healthy",
    ),
    "history": ("history", "what was released where, and when (--at TIME)"),
    "ui": ("ui", "serve a read-only release page on loopback (environments, rollouts, lineage)"),
    "lineage": ("lineage", "image, model, run and data behind a release"),
    "audit": (
        "audit",
        "check that the release ledger is complete and intact (verify), or vouch for it with "
        "the ledger key (checkpoint)",
    ),
    "ci": ("ci", "steps the generated CI files call (not for humans)"),
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
    words = list(sys.argv[1:] if argv is None else argv)
    if words and not words[0].startswith("-") and words[0] not in COMMANDS:
        import difflib

        close = difflib.get_close_matches(words[0], list(COMMANDS), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        parser.error(f"no command {words[0]!r}; {hint}the commands: {', '.join(COMMANDS)}")
    # Parse the command name first, then let only that command's module add its options.
    args, rest = parser.parse_known_args(words)
    if args.command is None:
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        parser.print_help()
        return 2
    module_name, help_text = COMMANDS[args.command]
    module = importlib.import_module(f"lockgate.commands.{module_name}")
    sub = argparse.ArgumentParser(prog=f"lockgate {args.command}", description=help_text)
    module.add_arguments(sub)
    sub_args, extra = sub.parse_known_args(rest)
    if extra:
        spec = [w for w in extra if w.endswith((".yaml", ".yml")) and not w.startswith("-")]
        takes_spec = any("--spec" in a.option_strings for a in sub._actions)
        hint = f"; give the spec as --spec {spec[0]}" if spec and takes_spec else ""
        sub.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if not getattr(sub_args, "json", False):
        result: int = module.run(sub_args)
        return result
    from lockgate.commands._options import print_json
    from lockgate.errors import LockgateError, clipped

    try:
        result = module.run(sub_args)
    except LockgateError as exc:  # --json: the error is the one document on stdout
        print_json({"ok": False, "error": clipped(str(exc)), "exit_code": exc.exit_code})
        return exc.exit_code
    return result
