"""cosign command lines and their outcomes: sign, attest, verify, verify-attestation.

Two ways to sign: a key pair (a key file, whose password reaches cosign only through the
COSIGN_PASSWORD variable of its own process, or a KMS URI) and keyless (Fulcio certificate from
the CI's OIDC token, recorded in Rekor). Key-based signing to a private registry skips the public
transparency log (``tlog_upload=False``). ``TUF_ROOT`` always points at a folder lockgate owns,
so cosign never writes to the user's home.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lockgate.errors import StageFailed
from lockgate.spec.keys import KMS_SCHEMES  # one list of key URIs for signing and sealing
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry_http import RegistryAccess
from lockgate.supply.tool_auth import tool_auth
from lockgate.supply.tools import Cosign


class CosignFailed(StageFailed):
    """cosign refused to sign or attest."""


@dataclass(frozen=True)
class KeyPairSigner:
    key: str  # a key file path or a KMS URI
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class KeylessSigner:
    """Fulcio + Rekor signing with the CI's OIDC identity. The token comes from the CI (GitHub's
    ambient provider, or ``SIGSTORE_ID_TOKEN`` set by GitLab ``id_tokens:``)."""

    identity_token: str = field(default="", repr=False)
    oidc_issuer: str | None = None
    oidc_provider: str | None = None  # e.g. github-actions
    fulcio_url: str | None = None
    rekor_url: str | None = None


@dataclass(frozen=True)
class TrustedKey:
    key: str  # public key file or KMS URI


@dataclass(frozen=True)
class TrustedIdentity:
    issuer: str
    identity: str | None = None
    identity_regexp: str | None = None


Signer = KeyPairSigner | KeylessSigner
Trust = TrustedKey | TrustedIdentity
Runner = Callable[..., subprocess.CompletedProcess[str]]


@dataclass(frozen=True)
class CosignCheck:
    ok: bool
    reason: str
    statements: tuple[Mapping[str, Any], ...] = ()
    payloads: tuple[Mapping[str, Any], ...] = ()


def last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.lower().startswith("error")]
    text = (errors or lines or ["no message"])[-1]
    return text.removeprefix("Error: ").removeprefix("error during command execution: ")[:300]


@dataclass
class CosignClient:
    cosign: Cosign
    tuf_root: Path
    access: RegistryAccess | None = None
    tlog_upload: bool = False
    run: Runner = subprocess.run

    # -- command lines -------------------------------------------------------------------------
    def _signer_flags(self, signer: Signer) -> list[str]:
        if isinstance(signer, KeyPairSigner):
            flags = [f"--key={signer.key}"]
            if not self.tlog_upload:
                flags += self.cosign.no_tlog_flags()
            return flags
        flags = []
        for name, value in (
            ("oidc-issuer", signer.oidc_issuer),
            ("oidc-provider", signer.oidc_provider),
            ("fulcio-url", signer.fulcio_url),
            ("rekor-url", signer.rekor_url),
        ):
            if value:
                flags.append(f"--{name}={value}")
        return flags

    def _trust_flags(self, trust: Trust) -> list[str]:
        if isinstance(trust, TrustedKey):
            flags = [f"--key={trust.key}"]
        else:
            flags = [f"--certificate-oidc-issuer={trust.issuer}"]
            if trust.identity:
                flags.append(f"--certificate-identity={trust.identity}")
            elif trust.identity_regexp:
                flags.append(f"--certificate-identity-regexp={trust.identity_regexp}")
            else:
                raise CosignFailed("keyless verification needs an identity or identity_regexp")
        if not self.tlog_upload:
            flags.append("--insecure-ignore-tlog=true")
        return flags

    def sign_argv(self, ref: ImageRef, signer: Signer) -> list[str]:
        return [str(self.cosign.path), "sign", "-y", *self._signer_flags(signer), str(ref)]

    def attest_argv(self, ref: ImageRef, signer: Signer, predicate: Path, kind: str) -> list[str]:
        return [
            str(self.cosign.path),
            "attest",
            "-y",
            *self._signer_flags(signer),
            f"--type={kind}",
            f"--predicate={predicate}",
            str(ref),
        ]

    def verify_argv(self, ref: ImageRef, trust: Trust) -> list[str]:
        return [str(self.cosign.path), "verify", *self._trust_flags(trust), str(ref)]

    def verify_attestation_argv(self, ref: ImageRef, trust: Trust, kind: str) -> list[str]:
        return [
            str(self.cosign.path),
            "verify-attestation",
            *self._trust_flags(trust),
            f"--type={kind}",
            str(ref),
        ]

    # -- running -------------------------------------------------------------------------------
    def _env(self, signer: Signer | None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("COSIGN_PASSWORD",)}
        env["TUF_ROOT"] = str(self.tuf_root)
        if isinstance(signer, KeyPairSigner):
            env["COSIGN_PASSWORD"] = signer.password
        elif isinstance(signer, KeylessSigner) and signer.identity_token:
            env["SIGSTORE_ID_TOKEN"] = signer.identity_token
        return env

    def _call(self, argv: list[str], signer: Signer | None) -> subprocess.CompletedProcess[str]:
        self.tuf_root.mkdir(parents=True, exist_ok=True)
        with tool_auth(self.access) as auth:
            env = {**self._env(signer), **auth.cosign_env}
            full = [*argv[:2], *auth.cosign_flags, *argv[2:]]
            return self.run(full, capture_output=True, text=True, env=env, timeout=300)

    def sign(self, ref: ImageRef, signer: Signer) -> None:
        proc = self._call(self.sign_argv(ref, signer), signer)
        if proc.returncode != 0:
            raise CosignFailed(f"cosign sign {ref} failed: {last_error(proc.stderr)}")

    def attest(self, ref: ImageRef, signer: Signer, predicate: Path, kind: str) -> None:
        proc = self._call(self.attest_argv(ref, signer, predicate, kind), signer)
        if proc.returncode != 0:
            raise CosignFailed(
                f"cosign attest --type {kind} {ref} failed: {last_error(proc.stderr)}"
            )

    def verify(self, ref: ImageRef, trust: Trust) -> CosignCheck:
        proc = self._call(self.verify_argv(ref, trust), None)
        if proc.returncode != 0:
            return CosignCheck(False, last_error(proc.stderr))
        payloads = tuple(json.loads(line) for line in _json_lines(proc.stdout))
        flat = tuple(p for doc in payloads for p in (doc if isinstance(doc, list) else [doc]))
        return CosignCheck(True, "signature verified", payloads=flat)

    def verify_attestation(self, ref: ImageRef, trust: Trust, kind: str) -> CosignCheck:
        proc = self._call(self.verify_attestation_argv(ref, trust, kind), None)
        if proc.returncode != 0:
            return CosignCheck(False, last_error(proc.stderr))
        statements = []
        for line in _json_lines(proc.stdout):
            envelope = json.loads(line)
            statements.append(json.loads(base64.b64decode(envelope["payload"])))
        return CosignCheck(True, "attestation verified", statements=tuple(statements))


def _json_lines(stdout: str) -> list[str]:
    return [ln for ln in stdout.splitlines() if ln.strip().startswith(("{", "["))]


def is_kms_uri(key: str) -> bool:
    return key.startswith(KMS_SCHEMES)
