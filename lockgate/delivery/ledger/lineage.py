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
    links: list[Link] = []
    image = image_of(entries, digest) or (subject if "@" in subject else None)
    model = model_of(entries, digest)
    mine = [e for e in entries if e.digest == digest]
    if not mine:
        links.append(Link(digest, "ledger", "broken", "the ledger has no entry for this digest"))
    facts: dict[str, str] = {}
    verified = None
    if verifier is not None and image:
        verdict = verifier.verify(image)
        verified, facts = verdict.passed, dict(verdict.facts)
        links.append(
            Link(
                image,
                "attestations",
                "ok" if verdict.passed else "broken",
                "; ".join(verdict.reasons) or ("verified" if verdict.passed else ""),
            )
        )
    attested = facts.get("model")
    if model and attested and attested != model:
        links.append(
            Link(
                image or digest,
                model,
                "broken",
                f"the ledger records {model}, the image's attestation names {attested}",
            )
        )
    elif model or attested:
        how = (
            "ledger and attestation agree"
            if model and attested
            else ("ledger only" if model else "attestation only")
        )
        links.append(Link(image or digest, str(model or attested), "ok", how))
    else:
        links.append(
            Link(
                image or digest,
                "model",
                "broken",
                "neither the ledger nor the attestations name a model version",
            )
        )
    model = model or attested
    run_id = source = None
    if model and registry is not None:
        ref = parse_model(model)
        record = registry.describe(ref.name, ref.version)
        if record is None:
            links.append(
                Link(
                    model,
                    "registry",
                    "broken",
                    f"{model} is not in the registry at {registry.tracking_uri}",
                )
            )
        else:
            run_id, source = record.run_id, record.source
            tagged = record.tags.get("lockgate.image_digest")
            if tagged and tagged != digest:
                links.append(
                    Link(model, digest, "broken", f"the registry tags {model} with image {tagged}")
                )
            links.append(
                Link(
                    model,
                    f"run {run_id}" if run_id else "run",
                    "ok" if run_id else "broken",
                    "registered from this run"
                    if run_id
                    else "the model version names no training run",
                )
            )
            data = record.tags.get("lockgate.data_digest")
            if data:
                links.append(
                    Link(
                        f"run {run_id}" if run_id else model,
                        f"data {data}",
                        "ok",
                        "trained on this dataset (from lockgate/ingest: its manifest's digest)",
                    )
                )
            attested_run = facts.get("mlflow_run")
            if attested_run and run_id and attested_run != run_id:
                links.append(
                    Link(
                        model,
                        f"run {attested_run}",
                        "broken",
                        f"the attestation names run {attested_run}, the registry {run_id}",
                    )
                )
    elif model:
        links.append(Link(model, "registry", "unknown", "no model registry configured"))
    pii = first_with(entries, digest, "pii_detected")
    checked = any("pii_detected" in e.details for e in mine)
    links.append(
        Link(
            model or digest,
            "data-check",
            "ok" if checked else "unknown",
            f"pii_detected: {pii or []}"
            if checked
            else "no data-check result was recorded with a release",
        )
    )
    events = [
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
        events,
        links,
    )
