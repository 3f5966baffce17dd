"""Lineage of a release: image <-> model version <-> training run <-> dataset and data check,
and where it went, assembled from the ledger, the model registry and the image's attestations.
Each link is checked where two sources speak about it; a missing or contradicting link is
reported as ``broken``, never filled in from the other side."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from lockgate.delivery.ledger.entry import Entry
from lockgate.delivery.ledger.releases import first_with, image_of, model_of
from lockgate.delivery.promotion.protocols import ImageVerifier, ModelRegistry
from lockgate.delivery.promotion.refs import parse_model
from lockgate.engine.stage_env import without_userinfo


@dataclass(frozen=True)
class Link:
    source: str
    target: str
    status: str  # ok | broken | unknown
    detail: str


@dataclass(frozen=True)
class Lineage:
    subject: str
    image: str | None
    digest: str | None
    model: str | None
    run_id: str | None = None
    model_source: str | None = None
    author: str | None = None
    attestations: dict[str, str] = field(default_factory=dict)
    verified: bool | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    @property
    def broken(self) -> list[Link]:
        return [x for x in self.links if x.status == "broken"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def digests_of_model(entries: Sequence[Entry], model: str) -> list[str]:
    seen: list[str] = []
    for e in entries:
        if e.model == model and e.digest and e.digest not in seen:
            seen.append(e.digest)
    return seen


def trace(
    subject: str,
    entries: Sequence[Entry],
    verifier: ImageVerifier | None,
    registry: ModelRegistry | None,
) -> list[Lineage]:
    if subject.startswith("models:/"):
        model = str(parse_model(subject))
        found = digests_of_model(entries, model)
        if not found:
            return [
                Lineage(
                    subject,
                    None,
                    None,
                    model,
                    links=[
                        Link(
                            model,
                            "image",
                            "broken",
                            "no release of this model version is in the ledger",
                        )
                    ],
                )
            ]
        return [_image(subject, d, entries, verifier, registry) for d in found]
    digest = subject.partition("@")[2] or subject
    return [_image(subject, digest, entries, verifier, registry)]


def _image(
    subject: str,
    digest: str,
    entries: Sequence[Entry],
    verifier: ImageVerifier | None,
    registry: ModelRegistry | None,
) -> Lineage:
    """One image's lineage: ledger -> attestations -> model version -> registry -> data check."""
    links: list[Link] = []
    image = image_of(entries, digest) or (subject if "@" in subject else None)
    recorded = model_of(entries, digest)
    mine = [e for e in entries if e.digest == digest]
    if not mine:
        links.append(Link(digest, "ledger", "broken", "the ledger has no entry for this digest"))
    facts: dict[str, str] = {}
    verified = None
    if verifier is not None and image:
        verified, facts, attestation = _attestations(verifier, image)
        links.append(attestation)
    attested = facts.get("model")
    links.append(_model_link(image or digest, recorded, attested))
    model = recorded or attested
    run_id = source = None
    if model and registry is not None:
        run_id, source, registered = _registry_links(model, digest, facts, registry)
        links += registered
    elif model:
        links.append(Link(model, "registry", "unknown", "no model registry configured"))
    links.append(_data_check_link(model or digest, entries, mine, digest))
    author = first_with(entries, digest, "author")
    return Lineage(
        subject,
        image,
        digest,
        model,
        run_id,
        source,
        str(author) if author else None,
        facts,
        verified,
        _events(mine),
        links,
    )


def _attestations(verifier: ImageVerifier, image: str) -> tuple[bool, dict[str, str], Link]:
    """Whether the image's attestations verify, the facts they state, and that link."""
    verdict = verifier.verify(image)
    detail = "; ".join(verdict.reasons) or ("verified" if verdict.passed else "")
    status = "ok" if verdict.passed else "broken"
    return verdict.passed, dict(verdict.facts), Link(image, "attestations", status, detail)


def _model_link(image: str, recorded: str | None, attested: str | None) -> Link:
    """Image -> model version, as the ledger records it and the attestation names it."""
    if recorded and attested and attested != recorded:
        detail = f"the ledger records {recorded}, the image's attestation names {attested}"
        return Link(image, recorded, "broken", detail)
    if recorded and attested:
        return Link(image, recorded, "ok", "ledger and attestation agree")
    if recorded or attested:
        how = "ledger only" if recorded else "attestation only"
        return Link(image, str(recorded or attested), "ok", how)
    detail = "neither the ledger nor the attestations name a model version"
    return Link(image, "model", "broken", detail)


def _registry_links(
    model: str, digest: str, facts: dict[str, str], registry: ModelRegistry
) -> tuple[str | None, str | None, list[Link]]:
    """Model version -> training run -> dataset, from the registry, checked against the image's
    tag and the attestation's run; returns the run id, the model's source and the links."""
    ref = parse_model(model)
    record = registry.describe(ref.name, ref.version)
    if record is None:
        detail = f"{model} is not in the registry at {without_userinfo(registry.tracking_uri)}"
        return None, None, [Link(model, "registry", "broken", detail)]
    links: list[Link] = []
    run_id = record.run_id
    tagged = record.tags.get("lockgate.image_digest")
    if tagged and tagged != digest:
        links.append(
            Link(model, digest, "broken", f"the registry tags {model} with image {tagged}")
        )
    if run_id:
        links.append(Link(model, f"run {run_id}", "ok", "registered from this run"))
    else:
        links.append(Link(model, "run", "broken", "the model version names no training run"))
    data = record.tags.get("lockgate.data_digest")
    if data:
        trained_on = "trained on this dataset (from lockgate/ingest: its manifest's digest)"
        links.append(Link(f"run {run_id}" if run_id else model, f"data {data}", "ok", trained_on))
    attested_run = facts.get("mlflow_run")
    if attested_run and run_id and attested_run != run_id:
        detail = f"the attestation names run {attested_run}, the registry {run_id}"
        links.append(Link(model, f"run {attested_run}", "broken", detail))
    return run_id, record.source, links


def _data_check_link(
    subject: str, entries: Sequence[Entry], mine: Sequence[Entry], digest: str
) -> Link:
    if not any("pii_detected" in e.details for e in mine):
        return Link(
            subject, "data-check", "unknown", "no data-check result was recorded with a release"
        )
    pii = first_with(entries, digest, "pii_detected")
    return Link(subject, "data-check", "ok", f"pii_detected: {pii or []}")


def _events(mine: Sequence[Entry]) -> list[dict[str, Any]]:
    return [
        {
            "seq": e.seq,
            "time": e.time,
            "action": e.action,
            "environment": e.environment,
            "actor": e.actor,
            "reason": e.reason,
        }
        for e in mine
    ]
