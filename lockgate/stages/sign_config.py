"""The sign stage's ``with:`` block: how to sign, what to attest, where the inputs are."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error
from lockgate.stages.context import StageContext
from lockgate.stages.supply_config import ImageSource, StageConfigError
from lockgate.supply.attestations import ProvenanceInputs
from lockgate.supply.cosign import KeylessSigner, KeyPairSigner, Signer, is_kms_uri
from lockgate.supply.verify_policy import AttestationName


class KeylessConfig(FrozenModel):
    oidc_issuer: str | None = None
    oidc_provider: str | None = Field(default=None, description="e.g. github-actions")
    fulcio_url: str | None = None
    rekor_url: str | None = None
    identity_token_secret: str | None = Field(
        default=None, description="secret holding the OIDC token (else the CI's ambient one)"
    )


class EvaluationConfig(FrozenModel):
    metrics_file: str = "in:evaluate/metrics.json"
    verdict: str | None = Field(default=None, description="else metrics['verdict']")


class ModelInfo(FrozenModel):
    name: str = ""
    version: str = ""


class SignConfig(ImageSource):
    key: str | None = Field(default=None, description="cosign key file or KMS URI")
    key_password_secret: str | None = None
    keyless: KeylessConfig | None = None
    tlog_upload: bool = Field(default=False, description="upload to Rekor (keyless: always)")
    attest: list[AttestationName] = Field(
        default_factory=lambda: list[AttestationName](["sbom", "provenance", "scan"])
    )
    sbom_file: str = "in:scan/sbom.cdx.json"
    scan_verdict_file: str = "in:scan/scan-verdict.json"
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    model: ModelInfo = Field(default_factory=ModelInfo)
    provenance: dict[str, Any] = Field(default_factory=dict)
    provenance_from: list[str] = Field(
        default_factory=list, description="JSON files of upstream stages merged into provenance"
    )
    spec_file: str = "lockgate.yaml"
    unscanned: str | None = Field(
        default=None,
        description="sign without a passing scan verdict for this digest, and why (recorded in "
        "signed.json and the report); without it an image is signed only after its scan passed",
    )

    def signer_problem(self) -> str | None:
        """Checked with the other required inputs (sign reports them all at once)."""
        if self.key is None and self.keyless is None:
            return "with.key: required: give exactly one of key or keyless (keyless: {} in CI)"
        if self.key is not None and self.keyless is not None:
            return "with.key / with.keyless: give exactly one of key or keyless"
        return None

    def signer(self, ctx: StageContext) -> Signer:
        if self.keyless is not None:
            k = self.keyless
            token = ctx.secret(k.identity_token_secret) if k.identity_token_secret else ""
            return KeylessSigner(token, k.oidc_issuer, k.oidc_provider, k.fulcio_url, k.rekor_url)
        if self.key is None:
            raise StageConfigError(self.signer_problem() or "with.key: required")
        key = self.key if is_kms_uri(self.key) else str(ctx.resolve(self.key))
        password = ctx.secret(self.key_password_secret) if self.key_password_secret else ""
        return KeyPairSigner(key, password)

    def model_info(self, ctx: StageContext) -> ModelInfo:
        """``with.model``, else the model the package stage recorded in its image record."""
        if self.model.name or self.model.version:
            return self.model
        recorded = self.image_record(ctx).get("model") or {}
        return ModelInfo(
            name=str(recorded.get("name", "")), version=str(recorded.get("version", ""))
        )

    def provenance_inputs(self, ctx: StageContext) -> ProvenanceInputs:
        merged: dict[str, Any] = {}
        record = self.image_record(ctx)
        if "@sha256:" in str(record.get("base", "")):
            merged["base_image"] = str(record["base"])
        if (record.get("model") or {}).get("run_id"):
            merged["mlflow_run_id"] = str(record["model"]["run_id"])
        for name in self.provenance_from:
            path = ctx.resolve(name)
            try:
                merged.update(json.loads(path.read_text()))
            except (OSError, json.JSONDecodeError) as exc:
                raise StageConfigError(f"with.provenance_from: {path}: {exc}") from None
        merged.update(self.provenance)
        for key, value in ci_provenance(os.environ).items():
            merged.setdefault(key, value)
        merged.setdefault("commit", ctx.git_sha)
        spec = ctx.resolve(self.spec_file)
        if "spec_digest" not in merged and spec.is_file():
            merged["spec_digest"] = "sha256:" + hashlib.sha256(spec.read_bytes()).hexdigest()
        try:
            return ProvenanceInputs.model_validate(merged)
        except ValidationError as exc:
            underivable = exc.errors()[0]["loc"] in (("builder_id",), ("source_repo",))
            hint = (
                " (set it in with.provenance; outside CI it cannot be derived)"
                if underivable
                else ""
            )
            message = describe_validation_error(
                exc, root=("with", "provenance"), hint=hint, model=ProvenanceInputs
            )
            raise StageConfigError(message) from None


def ci_provenance(env: Mapping[str, str]) -> dict[str, str]:
    """``builder_id`` and ``source_repo`` as the CI system running the stage names them
    (GitHub Actions, GitLab CI, Jenkins); empty outside CI."""
    if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        workflow = env.get("GITHUB_WORKFLOW_REF", "")
        return {
            "builder_id": f"{server}/{workflow}" if workflow else f"{server}/actions",
            "source_repo": f"git+{server}/{env['GITHUB_REPOSITORY']}",
        }
    if env.get("GITLAB_CI") == "true" and env.get("CI_PROJECT_URL"):
        return {
            "builder_id": f"{env.get('CI_SERVER_URL', '')}/{env.get('CI_PROJECT_PATH', '')}"
            f"/-/runners/{env.get('CI_RUNNER_ID', '')}",
            "source_repo": f"git+{env['CI_PROJECT_URL']}",
        }
    if env.get("JENKINS_URL") and env.get("JOB_NAME"):
        out = {"builder_id": f"{env['JENKINS_URL'].rstrip('/')}/job/{env['JOB_NAME']}"}
        if env.get("GIT_URL"):
            from lockgate.engine.stage_env import without_userinfo

            out["source_repo"] = f"git+{without_userinfo(env['GIT_URL'])}"
        return out
    return {}
