"""Whether a document that is about to be signed, or that verified, is about *this* image.

A signature proves who made a statement, not what it is about: a genuine scan verdict or SBOM
of another image, attested to this digest (by an override that skips the scan check, or by a
CI artifact swapped before signing), would verify. These checks read what the document itself
names, and are used both before signing (the sign stage) and after verifying
(``lockgate verify``). Each returns ``None`` when the document is bound to the digest, else one
line saying what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from lockgate.supply.image_ref import ImageRef
from lockgate.supply.trivy_report import SEVERITIES

_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def verdict_problem(verdict: object, digest: str) -> str | None:
    """A scan verdict names the image it scanned (``artifact``: ``NAME@sha256:...``), and its
    decision agrees with its own findings: ``passed`` exactly when no remaining finding has a
    ``fail_on`` severity, and ``counts`` (when given) are the counts of those findings."""
    if not isinstance(verdict, Mapping):
        return "not a scan verdict (a JSON object expected)"
    scanned = verdict.get("artifact")
    if not isinstance(scanned, str) or not scanned.endswith("@" + digest):
        return f"it is the verdict for {scanned or 'an unnamed image'}, not for {digest}"
    findings = verdict.get("findings") or []
    fail_on = verdict.get("fail_on") or []
    deciding = verdict.get("deciding") or []
    if not all(isinstance(x, list) for x in (findings, fail_on, deciding)):
        return "findings, fail_on and deciding must be lists"
    severities = [f.get("severity") if isinstance(f, Mapping) else None for f in findings]
    unknown = sorted({str(s) for s in severities if s not in SEVERITIES})
    if unknown:
        return f"findings with unknown severities {unknown}; expected one of {list(SEVERITIES)}"
    blocking = sum(1 for s in severities if s in fail_on)
    passed = verdict.get("passed")
    if passed is True and (blocking or deciding):
        return (
            f"it says passed, yet {blocking or len(deciding)} finding(s) in it have a fail_on "
            f"severity ({', '.join(map(str, fail_on))}): the verdict was edited"
        )
    counts = verdict.get("counts")
    if counts is not None:
        expected = {sev: severities.count(sev) for sev in SEVERITIES}
        given = counts if isinstance(counts, Mapping) else {}
        if {sev: given.get(sev, 0) for sev in SEVERITIES} != expected or set(given) - set(
            SEVERITIES
        ):
            return "its counts do not match its findings: the verdict was edited"
    return None


def sbom_problem(bom: object, digest: str) -> str | None:
    """A CycloneDX SBOM of an image names it in ``metadata.component`` (trivy: the name
    ``NAME@sha256:...``, the purl and the ``aquasecurity:trivy:RepoDigest`` property)."""
    if not isinstance(bom, Mapping):
        return "not a CycloneDX SBOM (a JSON object expected)"
    metadata = bom.get("metadata")
    component = metadata.get("component") if isinstance(metadata, Mapping) else None
    if not isinstance(component, Mapping):
        return f"it names no image (metadata.component), so nothing binds it to {digest}"
    text = json.dumps(component)
    hexdigest = digest.partition(":")[2]
    if f"sha256:{hexdigest}" in text or f"sha256%3A{hexdigest}" in text:
        return None
    described = str(component.get("name") or component.get("bom-ref") or "an unnamed component")
    return f"it describes {described[:160]}, not {digest}"


def docker_reference(name: str) -> str:
    """A repository name as cosign records it (Docker Hub spelled ``index.docker.io``, its
    official images under ``library/``)."""
    host, _, repository = name.partition("/")
    if host in _DOCKER_HUB:
        host = "index.docker.io"
        if "/" not in repository:
            repository = f"library/{repository}"
    return f"{host}/{repository}"


def signed_references(payloads: Iterable[Mapping[str, Any]], digest: str) -> list[str]:
    """The repositories the verified signature payloads name for ``digest``."""
    found = []
    for payload in payloads:
        critical = payload.get("critical") if isinstance(payload, Mapping) else None
        if not isinstance(critical, Mapping):
            continue
        image = critical.get("image") or {}
        identity = critical.get("identity") or {}
        if (
            isinstance(image, Mapping)
            and image.get("docker-manifest-digest") == digest
            and isinstance(identity, Mapping)
            and identity.get("docker-reference")
        ):
            found.append(str(identity["docker-reference"]))
    return found


def signature_problem(payloads: Iterable[Mapping[str, Any]], ref: ImageRef) -> str | None:
    """A signature is made for one repository (``critical.identity.docker-reference``): the
    same digest signed under another name (a debug or experimental image) is not this one."""
    names = signed_references(payloads, ref.digest)
    if docker_reference(ref.name) in {docker_reference(n) for n in names}:
        return None
    if not names:
        return f"no verified signature payload names {ref.digest} and a repository"
    others = ", ".join(sorted(set(names)))[:200]
    return (
        f"the signature was made for {others}, not {ref.name}: an image signed under another "
        "name was pushed here; sign it for this repository"
    )
