"""What ``lockgate verify`` demands of an image (a YAML/JSON policy file, or flags)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error
from lockgate.spec.yamlpos import load_yaml
from lockgate.supply.cosign import Trust, TrustedIdentity, TrustedKey
from lockgate.supply.scan_policy import Severity

AttestationName = Literal["sbom", "provenance", "evaluation", "scan"]


class VerifyPolicyError(LockgateError):
    """A verify policy file that does not load or validate."""


class KeylessTrust(FrozenModel):
    issuer: str
    identity: str | None = None
    identity_regexp: str | None = None

    @field_validator("identity_regexp")
    @classmethod
    def _anchored(cls, value: str | None) -> str | None:
        """cosign finds the pattern anywhere in the certificate's identity: unanchored,
        ``https://github.com/team/model/`` also matches an identity on another host that merely
        contains it, and ``...@refs/heads/main`` one of branch ``main-x``."""
        if value is not None and not (value.startswith("^") and value.endswith("$")):
            raise ValueError(
                f"identity_regexp {value!r} must be anchored at both ends, ^...$ (cosign "
                "matches it anywhere in the identity otherwise); e.g. "
                "^https://github\\.com/ORG/REPO/\\.github/workflows/release\\.yml@refs/heads/main$"
            )
        return value


class ScanRequirement(FrozenModel):
    require_passed: bool = True
    fail_on: list[Severity] = Field(default_factory=lambda: list[Severity](["CRITICAL"]))


class VerifyPolicy(FrozenModel):
    key: str | None = Field(default=None, description="cosign public key file or KMS URI")
    keyless: KeylessTrust | None = None
    require: list[AttestationName] = Field(
        default_factory=lambda: list[AttestationName](["sbom", "provenance", "scan"])
    )
    scan: ScanRequirement = Field(default_factory=ScanRequirement)
    model_version: str | None = None
    transparency_log: bool = Field(
        default=False, description="also require a Rekor entry (public-good or own Rekor)"
    )

    @model_validator(mode="after")
    def _one_trust_root(self) -> VerifyPolicy:
        if (self.key is None) == (self.keyless is None):
            raise ValueError("give exactly one of key or keyless")
        return self

    def trust(self) -> Trust:
        if self.key is not None:
            return TrustedKey(self.key)
        assert self.keyless is not None
        return TrustedIdentity(
            self.keyless.issuer, self.keyless.identity, self.keyless.identity_regexp
        )


def _key_beside(policy: Path, key: str) -> str:
    """A key file named in a policy is found beside the policy, never in whatever folder the
    command runs from: a working directory holding another ``keys/cosign.pub`` must not decide
    which signer is trusted. A symlink inside the policy's folder may not lead out of it."""
    if "://" in key or Path(key).is_absolute():
        return key  # a KMS URI or a path the policy pins
    folder = policy.resolve().parent
    named = folder / key
    if folder in named.parents and folder not in named.resolve().parents:
        raise VerifyPolicyError(
            f"{policy}: key: {key} is a symlink leading out of {folder}; "
            "name the key file itself or give an absolute path"
        )
    return str(named)


def load_verify_policy(path: Path | None, overrides: dict[str, object]) -> VerifyPolicy:
    """Read ``path`` (YAML or JSON), then apply command-line ``overrides``."""
    doc: dict[str, object] = {}
    if path is not None:
        try:
            text = path.read_text()
        except OSError as exc:
            raise VerifyPolicyError(f"{path}: cannot read policy: {exc.strerror}") from None
        try:  # YAML read like the spec: core schema, limits, duplicate keys refused
            loaded = json.loads(text) if path.suffix == ".json" else load_yaml(text, str(path))[0]
        except json.JSONDecodeError as exc:
            raise VerifyPolicyError(f"{path}: not valid JSON: {exc}") from None
        except LockgateError as exc:
            raise VerifyPolicyError(str(exc)) from None
        if not isinstance(loaded, dict):
            raise VerifyPolicyError(f"{path}: a policy is a mapping")
        doc = loaded
        if isinstance(doc.get("key"), str):
            doc["key"] = _key_beside(path, str(doc["key"]))
    doc.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return VerifyPolicy.model_validate(doc)
    except ValidationError as exc:
        message = describe_validation_error(
            exc, prefix=f"{path or 'verify flags'}: ", top="(policy)", model=VerifyPolicy
        )
        raise VerifyPolicyError(message) from None
