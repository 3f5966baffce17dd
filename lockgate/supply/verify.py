"""Decide whether an image (by digest) may be deployed, requirement by requirement.

``verify_image`` passes only when: the reference is pinned by digest (and, when it also names
a tag, the tag still points at that digest); the signature verifies against the trusted key or
identity and was made for this repository; every required attestation is present, verifies,
and names exactly this digest as its subject (and the SBOM describes this image); every
attested scan verdict is this image's own, unedited, and satisfies the policy; and the model
version (image label/annotation, else the evaluation attestation) equals the expected one when
one is given.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from lockgate.supply.attestations import (
    EVALUATION,
    KINDS,
    PROVENANCE,
    SBOM,
    SCAN,
    subject_digests,
)
from lockgate.supply.binding import sbom_problem, signature_problem
from lockgate.supply.cosign import CosignClient
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry import RegistryClient, RegistryError
from lockgate.supply.registry_http import (
    RegistryAccess,
    env_credentials,
    require_loopback_for_plain_http,
)
from lockgate.supply.tools import find_cosign
from lockgate.supply.verify_policy import VerifyPolicy
from lockgate.supply.verify_scan import Requirement, check_scans

MODEL_VERSION_KEY = "dev.lockgate.model.version"  # set by the package stage


@dataclass(frozen=True)
class VerifyReport:
    image: str
    requirements: tuple[Requirement, ...]
    facts: Mapping[str, str] = field(default_factory=dict)  # what verified attestations say

    @property
    def passed(self) -> bool:
        return bool(self.requirements) and all(r.passed for r in self.requirements)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def failures(self) -> list[Requirement]:
        return [r for r in self.requirements if not r.passed]

    def render(self) -> str:
        head = f"{'verified' if self.passed else 'REFUSED'}: {self.image}"
        return "\n".join([head, *(r.line() for r in self.requirements)])


def _check_tag(ref: ImageRef, registry: RegistryClient) -> Requirement:
    current = registry.resolve(ImageRef(ref.registry, ref.repository, ref.tag)).digest
    if current == ref.digest:
        return Requirement("tag", True, f"tag {ref.tag} points at {ref.digest[:19]}")
    return Requirement(
        "tag", False, f"tag {ref.tag} moved: it now points at {current}, not {ref.digest}"
    )


def _stored_predicate_types(ref: ImageRef, registry: RegistryClient) -> set[str]:
    """predicateType annotations of the attestations stored beside ``ref`` (cosign's
    ``sha256-<hex>.att`` tag), whether or not they verify."""
    att = ImageRef(ref.registry, ref.repository, ref.digest.replace(":", "-") + ".att")
    try:
        _, manifest = registry.manifest(att)
    except RegistryError:
        return set()
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        return set()
    return {
        str((layer.get("annotations") or {}).get("predicateType", ""))
        for layer in layers
        if isinstance(layer, dict)
    }


def _explain_missing(name: str, ref: ImageRef, registry: RegistryClient, reason: str) -> str:
    if "no matching subject digest" in reason:
        return f"the stored {name} attestation is signed for another digest, not {ref.digest}"
    if (
        "none of the attestations matched" not in reason
        and "no matching attestations" not in reason
    ):
        return reason
    kind = KINDS[name]
    if kind.predicate_type in _stored_predicate_types(ref, registry):
        stored = (
            f"a {name} attestation is stored but does not verify against the trusted key "
            "(tampered or signed by another key)"
        )
        # cosign may end its message at the colon; say nothing rather than a dangling colon
        detail = reason.strip().rstrip(":").strip()
        return f"{stored}: {detail}" if detail != "no matching attestations" else stored
    return reason


def _check_attestation(
    name: str,
    ref: ImageRef,
    policy: VerifyPolicy,
    cosign: CosignClient,
    registry: RegistryClient,
) -> tuple[Requirement, list[Mapping[str, Any]]]:
    """Every genuine statement of this kind for the digest, in registry order: anyone with
    push rights can reorder or drop layers, so no caller may let that order decide."""
    kind = KINDS[name]
    check = cosign.verify_attestation(ref, policy.trust(), kind.cosign_type)
    label = f"attestation {name}"
    if not check.ok:
        return Requirement(label, False, _explain_missing(name, ref, registry, check.reason)), []
    typed = [s for s in check.statements if s.get("predicateType") == kind.predicate_type]
    mine = [s for s in typed if ref.digest in subject_digests(s)]
    if not mine:
        others = sorted({d for s in typed for d in subject_digests(s)})
        return Requirement(
            label, False, f"signed for another digest ({', '.join(others)[:160]}), not {ref.digest}"
        ), []
    if name == SBOM.name:  # the SBOM itself must describe this image, not only be signed for it
        problems = [sbom_problem(s.get("predicate"), ref.digest) for s in mine]
        if any(problems):
            first = next(p for p in problems if p)
            return Requirement(label, False, f"the signed SBOM is refused: {first}"), []
    return Requirement(label, True, f"{kind.predicate_type} verified for this digest"), mine


def _image_model_version(ref: ImageRef, registry: RegistryClient) -> str | None:
    """The label the package stage sets; anyone with push rights can push a manifest whose
    config is not an image config, so every level is checked before it is read."""
    _, manifest = registry.manifest(ref)
    annotations = manifest.get("annotations") or {}
    if isinstance(annotations, dict) and MODEL_VERSION_KEY in annotations:
        return str(annotations[MODEL_VERSION_KEY])
    config = manifest.get("config") or {}
    if isinstance(config, dict) and config.get("digest"):
        try:
            doc = json.loads(registry.blob(ref, str(config["digest"])))
        except (ValueError, UnicodeDecodeError):
            return None
        inner = doc.get("config") if isinstance(doc, dict) else None
        labels = inner.get("Labels") if isinstance(inner, dict) else None
        if isinstance(labels, dict) and MODEL_VERSION_KEY in labels:
            return str(labels[MODEL_VERSION_KEY])
    return None


def _check_model_version(
    expected: str,
    ref: ImageRef,
    registry: RegistryClient,
    evaluation: Mapping[str, Any] | None,
) -> Requirement:
    try:
        found = _image_model_version(ref, registry)
    except RegistryError as exc:
        return Requirement("model version", False, f"cannot read the image's labels: {exc}")
    source = f"label {MODEL_VERSION_KEY}"
    if found is None and evaluation is not None:
        predicate = evaluation.get("predicate")
        model = predicate.get("model") if isinstance(predicate, dict) else None
        version = str(model.get("version", "")) if isinstance(model, dict) else ""
        found = version or None
        source = "evaluation attestation"
    if found is None:
        return Requirement(
            "model version",
            False,
            f"image carries no model version ({MODEL_VERSION_KEY} or evaluation)",
        )
    if found != expected:
        return Requirement(
            "model version",
            False,
            f"image has model version {found} ({source}), expected {expected}",
        )
    return Requirement("model version", True, f"{found} ({source})")


def _signed_by(reason: str, policy: VerifyPolicy) -> str:
    """Say which trust root verified, so a reader sees whose key was trusted."""
    if policy.key is not None:
        return f"{reason} (key {policy.key})"
    assert policy.keyless is not None
    who = policy.keyless.identity or policy.keyless.identity_regexp
    return f"{reason} (keyless: {who} from {policy.keyless.issuer})"


def verify_image(
    ref_text: str,
    policy: VerifyPolicy,
    *,
    cosign: CosignClient,
    registry: RegistryClient,
    today: date | None = None,
) -> VerifyReport:
    """Raises :class:`ImageRefError` for a reference not pinned by digest; everything else
    becomes a requirement in the report."""
    ref = ImageRef.pinned(ref_text)
    pinned = ref.with_digest(ref.digest)
    requirements: list[Requirement] = []
    try:
        if ref.tag:
            requirements.append(_check_tag(ref, registry))
        registry.manifest(pinned)
    except RegistryError as exc:
        return VerifyReport(str(pinned), (*requirements, Requirement("image", False, str(exc))))
    names = list(dict.fromkeys(policy.require))
    # each check is its own cosign process: run them side by side, report in a fixed order
    with ThreadPoolExecutor(max_workers=1 + len(names)) as pool:
        sig_job = pool.submit(cosign.verify, pinned, policy.trust())
        jobs = [
            pool.submit(_check_attestation, name, pinned, policy, cosign, registry)
            for name in names
        ]
        sig = sig_job.result()
        problem = signature_problem(sig.payloads, pinned) if sig.ok else None
        reason = problem or sig.reason
        requirements.append(
            Requirement("signature", sig.ok and not problem, _signed_by(reason, policy))
        )
        genuine: dict[str, list[Mapping[str, Any]]] = {}
        for name, job in zip(names, jobs, strict=True):
            req, found = job.result()
            requirements.append(req)
            if found:
                genuine[name] = found
    statements = {name: found[-1] for name, found in genuine.items()}
    if SCAN.name in policy.require and SCAN.name in genuine:
        scans = genuine[SCAN.name]
        requirements.append(check_scans(scans, pinned.digest, policy, today or date.today()))
    if policy.model_version is not None:
        evaluation = statements.get(EVALUATION.name)
        if evaluation is None and EVALUATION.name not in policy.require:
            _, extra = _check_attestation(EVALUATION.name, pinned, policy, cosign, registry)
            evaluation = extra[-1] if extra else None
        requirements.append(
            _check_model_version(policy.model_version, pinned, registry, evaluation)
        )
    facts = attested_facts(statements)
    if genuine.get(SCAN.name):
        facts["scan_verdicts"] = " ".join(scan_verdict_ids(genuine[SCAN.name]))
    return VerifyReport(str(pinned), tuple(requirements), facts)


def scan_verdict_ids(found: list[Mapping[str, Any]]) -> list[str]:
    """One short id per genuine (signature-checked) scan verdict for the digest: the sha256 of
    its predicate and whether it passed, e.g. ``3f2a…:fail``. Promotion records them in the
    ledger, a record outside the registry, so a verdict deleted later is noticed."""
    out = []
    for stmt in found:
        predicate = stmt.get("predicate", {})
        body = json.dumps(predicate, sort_keys=True, separators=(",", ":")).encode()
        outcome = "pass" if isinstance(predicate, dict) and predicate.get("passed") else "fail"
        out.append(f"{hashlib.sha256(body).hexdigest()[:16]}:{outcome}")
    return sorted(set(out))


def attested_facts(statements: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Facts lineage cross-checks, from attestations that verified: the model (evaluation
    predicate), the MLflow run (SLSA provenance) and the scan verdict."""
    facts: dict[str, str] = {}
    evaluation = statements.get(EVALUATION.name, {}).get("predicate", {})
    model = evaluation.get("model") or {}
    if model.get("name") and model.get("version"):
        facts["model"] = f"models:/{model['name']}/{model['version']}"
    provenance = statements.get(PROVENANCE.name, {}).get("predicate", {})
    run = (provenance.get("buildDefinition") or {}).get("internalParameters", {})
    if run.get("mlflowRunId"):
        facts["mlflow_run"] = str(run["mlflowRunId"])
    scan = statements.get(SCAN.name, {}).get("predicate", {})
    if "passed" in scan:
        facts["scan_passed"] = str(bool(scan["passed"])).lower()
    return facts


def verify_ref(
    image: str, policy: VerifyPolicy, *, registry_ca: Path | None = None, plain_http: bool = False
) -> VerifyReport:
    """Verify ``image`` with the real cosign and registry clients (credentials from
    LOCKGATE_REGISTRY_USER / LOCKGATE_REGISTRY_PASSWORD: :func:`.env_credentials`)."""
    ref = ImageRef.pinned(image)
    access = RegistryAccess(
        ref.registry,
        *env_credentials(),
        ca_file=registry_ca,
        plain_http=plain_http,
    )
    require_loopback_for_plain_http(access)
    with tempfile.TemporaryDirectory(prefix="lockgate-tuf-") as tuf:
        cosign = CosignClient(find_cosign(), Path(tuf), access, tlog_upload=policy.transparency_log)
        return verify_image(image, policy, cosign=cosign, registry=RegistryClient(access))
