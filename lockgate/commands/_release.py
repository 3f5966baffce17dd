"""What the release commands share: the project, the ledger store, the acting identity, the
verifier, the registry and the deployers, built from the spec and flags."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from lockgate.commands._options import add_json_argument, add_spec_argument, print_json
from lockgate.commands._project import Project, load_project


def add_release_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    add_json_argument(parser)
    parser.add_argument(
        "--signing-key",
        type=Path,
        default=os.environ.get("LOCKGATE_SIGNING_KEY") or None,
        metavar="PEM",
        help="Ed25519 private key that signs the entries this command writes "
        "(default: $LOCKGATE_SIGNING_KEY)",
    )


def add_plain_http_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--plain-http",
        action="store_true",
        default=os.environ.get("LOCKGATE_VERIFY_PLAIN_HTTP", "") not in ("", "0"),
        help="verify against a test registry on loopback over plain HTTP "
        "(default: $LOCKGATE_VERIFY_PLAIN_HTTP)",
    )


def notice(message: str) -> None:
    print(f"lockgate: {message}", file=sys.stderr)


def open_store(project: Project, args: argparse.Namespace, sync: bool = True) -> Any:
    from lockgate.delivery.ledger.store import open_ledger

    signer = None
    key = getattr(args, "signing_key", None)
    if key:
        from lockgate.delivery.ledger.signing import load_signer

        signer = load_signer(Path(key))
    return open_ledger(project.pipeline, project.root, signer=signer, notice=notice, sync=sync)


def tracking_uri(project: Project) -> str:
    if project.pipeline.tracking_uri:
        return str(project.pipeline.tracking_uri)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{project.root / '.lockgate' / 'state' / 'mlflow.db'}"


def registry(project: Project) -> Any:
    from lockgate.delivery.promotion.mlflow_registry import MlflowRegistry

    return MlflowRegistry(tracking_uri(project))


def promoter(args: argparse.Namespace) -> Any:
    from lockgate.delivery.ledger.identity import current_identity
    from lockgate.delivery.promotion.deployers import deployer_for
    from lockgate.delivery.promotion.promote import Promoter
    from lockgate.delivery.promotion.verifier import SupplyVerifier

    project = load_project(args)
    return Promoter(
        pipeline=project.pipeline,
        spec_root=project.root,
        ledger=open_store(project, args),
        verifier=SupplyVerifier(
            project.pipeline, project.root, plain_http=getattr(args, "plain_http", False)
        ),
        deployer_for=lambda name: deployer_for(name, project.root, project.pipeline),
        registry=registry(project),
        actor=current_identity(cwd=project.root),
    )


def report(outcome: Any, as_json: bool = False) -> int:
    if as_json:
        print_json(
            {
                "action": outcome.action,
                "environment": outcome.environment,
                "digest": outcome.digest,
                "status": outcome.status,
                "ok": outcome.exit_code == 0,
                "lines": list(outcome.lines),
                "seqs": list(outcome.seqs),
            }
        )
        return int(outcome.exit_code)
    stream = sys.stderr if outcome.exit_code else sys.stdout
    for line in outcome.lines:
        print(line, file=stream)
    return int(outcome.exit_code)
