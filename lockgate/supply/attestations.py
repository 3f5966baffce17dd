"""What lockgate attests about an image, and the predicate each attestation carries.

=============  ===================  ===========================================================
name           cosign --type        predicateType
=============  ===================  ===========================================================
sbom           cyclonedx            https://cyclonedx.org/bom
provenance     slsaprovenance1      https://slsa.dev/provenance/v1
evaluation     (URI)                https://lockgate.dev/attestations/model-evaluation/v1
scan           (URI)                https://lockgate.dev/attestations/scan-verdict/v1
=============  ===================  ===========================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from lockgate.spec.base import FrozenModel

IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"
BUILD_TYPE = "https://lockgate.dev/build/model-image/v1"
_DIGEST = re.compile(r"^(sha256|sha512):[0-9a-f]{64,128}$")


@dataclass(frozen=True)
class AttestationKind:
    name: str
    cosign_type: str
    predicate_type: str


SBOM = AttestationKind("sbom", "cyclonedx", "https://cyclonedx.org/bom")
PROVENANCE = AttestationKind("provenance", "slsaprovenance1", "https://slsa.dev/provenance/v1")
EVALUATION = AttestationKind(
    "evaluation",
    "https://lockgate.dev/attestations/model-evaluation/v1",
    "https://lockgate.dev/attestations/model-evaluation/v1",
)
SCAN = AttestationKind(
    "scan",
    "https://lockgate.dev/attestations/scan-verdict/v1",
    "https://lockgate.dev/attestations/scan-verdict/v1",
)
KINDS: dict[str, AttestationKind] = {k.name: k for k in (SBOM, PROVENANCE, EVALUATION, SCAN)}


def digest_set(digest: str) -> dict[str, str]:
    """``sha256:abc`` -> ``{"sha256": "abc"}`` (an in-toto DigestSet)."""
    algo, _, value = digest.partition(":")
    return {algo: value}


class ProvenanceInputs(FrozenModel):
    """What went into the image, as recorded in the SLSA provenance (from ``with.provenance``
    and upstream outputs)."""

    builder_id: str = Field(min_length=1, description="URI of the build platform")
    source_repo: str = Field(min_length=1, description="e.g. git+https://host/org/repo")
    commit: str = Field(default="", description="defaults to the run's git commit")
    spec_digest: str = Field(default="", description="sha256 of lockgate.yaml (computed)")
    base_image: str = Field(default="", description="base image reference pinned by digest")
    datasets: dict[str, str] = Field(default_factory=dict, description="name -> sha256:...")
    mlflow_run_id: str = ""

    @field_validator("datasets")
    @classmethod
    def _digests(cls, value: dict[str, str]) -> dict[str, str]:
        for name, digest in value.items():
            if not _DIGEST.match(digest):
                raise ValueError(f"dataset {name!r}: digest must look like sha256:<hex>")
        return value

    @field_validator("base_image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        if value and "@sha256:" not in value:
            raise ValueError("base_image must be pinned by digest (name@sha256:...)")
        return value


def slsa_provenance(
    inputs: ProvenanceInputs, run_id: str, started: datetime, finished: datetime
) -> dict[str, Any]:
    """A SLSA v1 provenance predicate."""
    dependencies: list[dict[str, Any]] = []
    if inputs.commit:
        dependencies.append({"uri": inputs.source_repo, "digest": {"gitCommit": inputs.commit}})
    if inputs.base_image:
        name, _, digest = inputs.base_image.partition("@")
        dependencies.append(
            {"uri": f"oci://{name}", "name": "base-image", "digest": digest_set(digest)}
        )
    for name, digest in sorted(inputs.datasets.items()):
        dependencies.append(
            {"name": f"dataset:{name}", "uri": f"dataset:{name}", "digest": digest_set(digest)}
        )
    external: dict[str, Any] = {"source": {"uri": inputs.source_repo}}
    if inputs.commit:
        external["source"]["digest"] = {"gitCommit": inputs.commit}
    if inputs.spec_digest:
        external["spec"] = {"path": "lockgate.yaml", "digest": digest_set(inputs.spec_digest)}
    internal = {"mlflowRunId": inputs.mlflow_run_id} if inputs.mlflow_run_id else {}
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": internal,
            "resolvedDependencies": dependencies,
        },
        "runDetails": {
            "builder": {"id": inputs.builder_id},
            "metadata": {
                "invocationId": run_id,
                "startedOn": started.strftime(stamp),
                "finishedOn": finished.strftime(stamp),
            },
        },
    }


def evaluation_predicate(
    metrics: Mapping[str, Any], verdict: str, model_name: str, model_version: str
) -> dict[str, Any]:
    return {
        "model": {"name": model_name, "version": model_version},
        "metrics": dict(metrics),
        "verdict": verdict,
    }


def statement(
    subject_name: str, digest: str, kind: AttestationKind, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    """The in-toto Statement v1 that an attestation of ``predicate`` amounts to (kept as a
    record next to the image; cosign builds its own envelope when it attests)."""
    return {
        "_type": IN_TOTO_STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": digest_set(digest)}],
        "predicateType": kind.predicate_type,
        "predicate": dict(predicate),
    }


def subject_digests(stmt: Mapping[str, Any]) -> list[str]:
    """Every ``sha256:...`` digest named as a subject of ``stmt``."""
    return [
        f"{algo}:{value}"
        for subject in stmt.get("subject") or []
        for algo, value in (subject.get("digest") or {}).items()
    ]
