"""What the release commands share: the project, the ledger store, the proven identity, the
verifier, the registry and the deployers, built from the spec and flags."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lockgate.commands._options import (
    add_json_argument,
    add_signing_key_argument,
    add_spec_argument,
    print_json,
)
from lockgate.commands._project import Project

if TYPE_CHECKING:
    from lockgate.delivery.ledger.identity import Identity
    from lockgate.delivery.ledger.store import LedgerStore
    from lockgate.delivery.ledger.verification import KeyChecker
    from lockgate.delivery.promotion.mlflow_registry import MlflowRegistry
    from lockgate.delivery.promotion.promote import Outcome, Promoter


def add_release_arguments(parser: argparse.ArgumentParser) -> None:
    add_spec_argument(parser)
    add_json_argument(parser)
    add_signing_key_argument(parser, "the entries this command writes")
    proof = parser.add_mutually_exclusive_group()
    proof.add_argument(
        "--identity-key",
        type=Path,
        default=os.environ.get("LOCKGATE_IDENTITY_KEY") or None,
        metavar="KEY",
        help="your own Ed25519 SSH key, listed in policy.allowed_signers: proves who you are "
        "(default: $LOCKGATE_IDENTITY_KEY; in CI the OIDC token proves it)",
    )
    proof.add_argument(
        "--signed-statement",
        type=Path,
        metavar="FILE",
        help="a statement (from --print-statement) signed with `ssh-keygen -Y sign -n lockgate`; "
        "the signature is read from FILE.sig",
    )
    parser.add_argument(
        "--print-statement",
        action="store_true",
        help="print the statement to sign with `ssh-keygen -Y sign -n lockgate` and stop; "
        "give the command the same options when you pass --signed-statement",
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


def open_store(project: Project, args: argparse.Namespace, sync: bool = True) -> LedgerStore:
    from lockgate.delivery.ledger.signing import load_signer
    from lockgate.delivery.ledger.store import open_ledger

    key = getattr(args, "signing_key", None)
    signer = load_signer(Path(key)) if key else None
    checker = _ledger_checker(project, args)
    if key and checker is not None and not _holds(Path(key), checker):
        from lockgate.errors import LockgateError

        raise LockgateError(
            f"--signing-key {key} (or LOCKGATE_SIGNING_KEY) is not the private half of "
            f"policy.ledger.public_key ({project.pipeline.policy.ledger.public_key}): what it "
            "signs would not verify, and every gate would then refuse the ledger; sign with the "
            "ledger's key. Nothing was written"
        )
    return open_ledger(
        project.pipeline,
        project.root,
        signer=signer,
        notice=notice,
        sync=sync,
        checker=checker,
    )


def _ledger_checker(project: Project, args: argparse.Namespace) -> KeyChecker | None:
    """The key the ledger is read with: the spec's ``policy.ledger.public_key``, else the
    public half of the writer's ``--signing-key``, else none (an unsigned ledger)."""
    from lockgate.delivery.ledger.signing import checker_of_private, load_checker

    public = project.pipeline.policy.ledger.public_key
    if public:  # the spec's key wins: a writer's key that is not the ledger's is found out
        return load_checker(ledger_key_path(project, public))
    key = getattr(args, "signing_key", None)
    return checker_of_private(Path(key)) if key else None


def _holds(private: Path, checker: KeyChecker) -> bool:
    from lockgate.delivery.ledger.signing import checker_of_private

    return checker_of_private(private).key_id == checker.key_id


def checkpoint_if_due(project: Project, args: argparse.Namespace, store: LedgerStore) -> None:
    """After a command's writes to a signed ledger, run with the ledger's own key: when
    ``policy.ledger.checkpoint_every`` entries follow the last signed checkpoint, audit the
    ledger and append one (:func:`lockgate.delivery.ledger.vouch.write_checkpoint`). The
    command's decision is already recorded, so a checkpoint that cannot be written is a notice,
    never the command's failure."""
    every = project.pipeline.policy.ledger.checkpoint_every
    key = getattr(args, "signing_key", None)
    if not every or not key:
        return
    from lockgate.delivery.ledger.signatures import default_workers
    from lockgate.delivery.ledger.vouch import checkpoint_due, write_checkpoint
    from lockgate.errors import LockgateError

    try:
        check = _ledger_checker(project, args)
        if check is None or not _holds(Path(key), check):
            return  # only the ledger key's holder vouches (open_store refused any other)
        if not checkpoint_due(store.folder, every):
            return
        done = write_checkpoint(store, check, workers=default_workers(), min_new=every)
    except (LockgateError, OSError, subprocess.SubprocessError) as exc:  # a git push, timed out
        notice(f"the ledger was not checkpointed: {exc}")
        return
    if done.written is not None:
        notice(
            f"entry {done.written.seq}: checkpoint: an audit with the ledger key passed entries "
            f"1-{done.through}, so a fresh machine's audit no longer checks their signatures "
            f"(policy.ledger.checkpoint_every: {every})"
        )
    elif not done.report.ok:
        notice(
            f"the ledger was not checkpointed: its audit failed: {done.report.problems[0]}; "
            "run `lockgate audit verify --full` and look at it now"
        )


def ledger_key_path(project: Project, named: str) -> Path:
    """``policy.ledger.public_key`` beside the spec; a link out of the spec's folder is refused."""
    from lockgate.errors import LockgateError

    path = project.root / named
    inside = project.root.resolve()
    if path.is_symlink() and inside not in path.resolve().parents:
        raise LockgateError(
            f"policy.ledger.public_key: {named} is a link to {path.resolve()}, outside the "
            f"spec's folder {inside}; put the key itself beside the spec"
        )
    return path


def print_statement(
    store: LedgerStore, op: str, env: str, digest: str, terms: Sequence[tuple[str, str]] = ()
) -> int:
    """``--print-statement``: the statement this command asks to be signed, on stdout."""
    from lockgate.delivery.ledger.identity import statement_for

    print(statement_for(op, env, digest, store.clock(), terms).text(), end="")
    return 0


def proven_actor(
    project: Project,
    args: argparse.Namespace,
    store: LedgerStore,
    op: str,
    env: str,
    digest: str,
    terms: Sequence[tuple[str, str]] = (),
) -> Identity:
    """Who acts on ``op`` and its ``terms`` (what else the command decides by: the statement
    names them), proven by key or CI token; a refusal is recorded in the ledger and raised."""
    from lockgate.delivery.ledger.entry import Draft
    from lockgate.delivery.ledger.identity import (
        IdentityNotProven,
        prove_identity,
        statement_for,
        used_before,
    )
    from lockgate.delivery.promotion.rules import identity_settings

    settings = identity_settings(project.pipeline, project.root)
    try:
        actor = prove_identity(
            settings,
            statement_for(op, env, digest, store.clock(), terms),
            now=store.clock(),
            identity_key=getattr(args, "identity_key", None),
            signed_statement=getattr(args, "signed_statement", None),
        )
        seq = used_before(store.entries(), actor)
        if seq is not None:
            raise IdentityNotProven(
                f"this signed statement was already used (entry {seq}): a statement proves "
                "one command, once; sign a new one",
                f"key {actor.proof.get('key')}",
            )
        return actor
    except IdentityNotProven as exc:
        store.append(
            Draft(
                action="refuse",
                actor="(unproven)",
                actor_source="none",
                environment=env,
                digest=digest if digest.startswith("sha256:") else None,
                reason=f"identity not proven: {exc.reason}",
                details={"op": op, "claimed": exc.claimed},
            )
        )
        raise


def tracking_uri(project: Project) -> str:
    if project.pipeline.tracking_uri:
        return str(project.pipeline.tracking_uri)
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    # the embedded store the train and evaluate stages write (lockgate.stages.tracking_store):
    # promotion moves its aliases, so the next evaluate finds the champion there
    return f"sqlite:///{project.root / '.lockgate' / 'state' / 'mlflow' / 'mlflow.db'}"


def registry(project: Project) -> MlflowRegistry:
    from lockgate.delivery.promotion.mlflow_registry import MlflowRegistry

    return MlflowRegistry(tracking_uri(project))


def promoter(
    project: Project, args: argparse.Namespace, store: LedgerStore, actor: Identity
) -> Promoter:
    """The promoter writing to ``store``, acting as the proven ``actor``."""
    from lockgate.delivery.promotion.deployers import deployer_for
    from lockgate.delivery.promotion.promote import Promoter
    from lockgate.delivery.promotion.verifier import SupplyVerifier

    return Promoter(
        pipeline=project.pipeline,
        spec_root=project.root,
        ledger=store,
        verifier=SupplyVerifier(
            project.pipeline, project.root, plain_http=getattr(args, "plain_http", False)
        ),
        deployer_for=lambda name: deployer_for(name, project.root, project.pipeline),
        registry=registry(project),
        actor=actor,
    )


def report(outcome: Outcome, as_json: bool = False) -> int:
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
