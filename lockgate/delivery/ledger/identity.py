"""Who is acting, proven, never claimed.

Two proofs count:

- ``ssh-key``: the person signs a statement of what they do (operation, environment, digest, the
  terms the command decides by, time: :mod:`.statement`) with their own Ed25519 key, and the key
  is listed for them in the team's allowed-signers file (``policy.allowed_signers``). lockgate
  can sign on the spot (``--identity-key``) or take a statement signed with
  ``ssh-keygen -Y sign -n lockgate`` (``--signed-statement``).
- ``oidc``: in CI, the CI system's OpenID Connect token, verified against a trusted issuer
  (``policy.oidc``); its actor claim names the person or bot.

Environment variables such as ``GITHUB_ACTOR`` are claims anyone can set: they prove nothing and
are only quoted in the refusal. The proof is kept with the identity and recorded in the ledger.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lockgate.delivery.ledger import sshsig
from lockgate.delivery.ledger.allowed_signers import load_allowed_signers, signer_of
from lockgate.delivery.ledger.entry import Entry, format_time, parse_time
from lockgate.delivery.ledger.oidc import TrustedIssuer, ci_token, verify_token
from lockgate.delivery.ledger.statement import Statement, StatementError, mismatch
from lockgate.errors import LockgateError

# claims that a CI *could* set, but that anyone else can set too: quoted, never trusted
CLAIMED = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID")
FRESH = timedelta(minutes=15)  # how old a signed statement may be


@dataclass(frozen=True)
class Identity:
    name: str
    source: str  # how it was proven: ssh-key, oidc (or a test's own label)
    email: str | None = None
    groups: tuple[str, ...] = ()  # from the allowed-signers file, without "@"
    proof: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def names(self) -> set[str]:
        return {n for n in (self.name, self.email) if n} | {f"@{g}" for g in self.groups}


class IdentityNotProven(LockgateError):
    """Nobody could be proven to be acting; ``claimed`` says who was claimed, if anyone."""

    exit_code = 1

    def __init__(self, reason: str, claimed: str = "") -> None:
        super().__init__(f"identity not proven: {reason}")
        self.reason = reason
        self.claimed = claimed


@dataclass(frozen=True)
class IdentitySettings:
    """The team's identity settings: ``policy.allowed_signers`` and ``policy.oidc``."""

    allowed_signers: Path | None = None
    issuers: tuple[TrustedIssuer, ...] = ()
    token_variable: str = "LOCKGATE_ID_TOKEN"


def _claimed(env: Mapping[str, str]) -> str:
    return ", ".join(f"{v}={env[v]}" for v in CLAIMED if env.get(v))


def _by_signature(
    settings: IdentitySettings, wanted: Statement, text: str, armored: str, now: datetime
) -> Identity:
    try:
        sig = sshsig.parse(armored)
    except LockgateError as exc:
        raise IdentityNotProven(str(exc)) from None
    claimed = f"key {sig.fingerprint}"
    try:
        signed = Statement.parse(text)
    except StatementError as exc:
        raise IdentityNotProven(exc.reason, claimed) from None
    wrong = mismatch(signed, wanted)
    if wrong is not None:
        raise IdentityNotProven(wrong, claimed)
    try:
        age = now - parse_time(signed.time)
    except ValueError:
        raise IdentityNotProven(f"the statement's time {signed.time!r} is not a time") from None
    if abs(age) > FRESH:
        raise IdentityNotProven(
            f"the signed statement is from {signed.time}, more than {FRESH} from now: sign anew",
            claimed,
        )
    if settings.allowed_signers is None:
        raise IdentityNotProven(
            "no allowed-signers file: set policy.allowed_signers in lockgate.yaml", claimed
        )
    try:
        signers = load_allowed_signers(settings.allowed_signers)
        signer = signer_of(signers, sig.public_key, sig.namespace)
        sshsig.verify(sig, text.encode())
    except LockgateError as exc:
        raise IdentityNotProven(str(exc), claimed) from None
    proof = {
        "method": "ssh-key",
        "key": sig.fingerprint,
        "listed": signer.where,
        "statement": text,
        "signature": armored,
    }
    return Identity(signer.person, "ssh-key", groups=signer.groups, proof=proof)


def _by_token(settings: IdentitySettings, token: str) -> Identity:
    try:
        issuer, claims = verify_token(token, settings.issuers)
    except LockgateError as exc:
        raise IdentityNotProven(str(exc), "an OIDC token") from None
    actor = str(claims[issuer.actor_claim])
    proof = {
        "method": "oidc",
        "issuer": issuer.issuer,
        "claim": issuer.actor_claim,
        "subject": str(claims.get("sub", "")),
        "token_id": str(claims.get("jti", "")),
    }
    return Identity(actor, "oidc", proof=proof)


def prove_identity(
    settings: IdentitySettings,
    wanted: Statement,
    *,
    now: datetime,
    identity_key: Path | None = None,
    signed_statement: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Identity:
    """The proven identity acting for ``wanted``, or :class:`IdentityNotProven` with the reason."""
    env = os.environ if env is None else env
    if identity_key is not None:
        try:
            key = sshsig.load_private_key(identity_key)
        except LockgateError as exc:
            raise IdentityNotProven(str(exc)) from None
        text = wanted.text()
        return _by_signature(settings, wanted, text, sshsig.sign(key, text.encode()), now)
    if signed_statement is not None:
        sig_file = Path(f"{signed_statement}.sig")
        try:
            text, armored = signed_statement.read_text(), sig_file.read_text()
        except OSError as exc:
            raise IdentityNotProven(
                f"cannot read {exc.filename}: sign the statement with "
                f"`ssh-keygen -Y sign -n lockgate -f KEY {signed_statement}`"
            ) from None
        except UnicodeDecodeError:
            raise IdentityNotProven(
                f"{signed_statement} or {sig_file} is not text: give the statement "
                "--print-statement wrote and the .sig file `ssh-keygen -Y sign -n lockgate` wrote"
            ) from None
        return _by_signature(settings, wanted, text, armored, now)
    # GitHub mints the token on request, for an audience: the GitHub issuer's, else the first's
    github = [i for i in settings.issuers if "github" in i.issuer]
    requested = github or list(settings.issuers)
    token = ci_token(env, requested[0].audience if requested else "", settings.token_variable)
    if token:
        if not settings.issuers:
            raise IdentityNotProven("a CI token is present but policy.oidc trusts no issuer")
        return _by_token(settings, token)
    claimed = _claimed(env)
    hint = f" ({claimed} is a claim anyone can set, not a proof)" if claimed else ""
    raise IdentityNotProven(
        "sign with your key listed in the allowed-signers file (--identity-key ~/.ssh/id_ed25519)"
        f" or run in CI with an OIDC token{hint}",
        claimed,
    )


def statement_for(
    op: str,
    environment: str,
    digest: str,
    now: datetime,
    terms: Sequence[tuple[str, str]] = (),
) -> Statement:
    """The statement a command asks to be signed: ``terms`` are what else it decides by."""
    return Statement(op, environment, digest, format_time(now), tuple(terms))


def used_before(entries: Sequence[Entry], identity: Identity) -> int | None:
    """The entry that already recorded ``identity``'s signed statement, if any: a statement
    proves one command, once. The ledger keeps every statement and its signature (anyone can
    read them there), so without this a recorded statement could be replayed while it is fresh,
    e.g. an approval after its revocation or a health mark turned around."""
    proof = identity.proof
    if proof.get("method") != "ssh-key":
        return None
    for e in entries:
        seen = e.details.get("proof")
        if (
            isinstance(seen, Mapping)
            and seen.get("statement") == proof.get("statement")
            and seen.get("key") == proof.get("key")
        ):
            return e.seq
    return None
