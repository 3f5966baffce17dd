"""Built-in stage ``lockgate/sign``: sign an image by digest with cosign and attach the
attestations named in ``with.attest`` (SBOM, SLSA provenance, model evaluation, scan verdict).

Outputs: ``signed.json`` (image, digest, attestations), ``attestations/<name>.predicate.json``
and ``attestations/<name>.intoto.json`` (the Statement each attestation amounts to), report.md.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError
from lockgate.stages.context import StageContext
from lockgate.stages.sign_config import SignConfig
from lockgate.stages.supply_config import StageConfigError, parse_with
from lockgate.supply.attestations import (
    KINDS,
    PROVENANCE,
    SBOM,
    SCAN,
    evaluation_predicate,
    slsa_provenance,
    statement,
)
from lockgate.supply.binding import sbom_problem, verdict_problem
from lockgate.supply.cosign import CosignClient, is_kms_uri
from lockgate.supply.scan_gate import write_atomic, write_json
from lockgate.supply.tools import find_cosign


def _read_json(ctx: StageContext, field: str, name: str) -> Any:
    path = ctx.resolve(name)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise StageConfigError(
            f"with.{field}: {path} not found (did the upstream stage run?)"
        ) from None
    except json.JSONDecodeError as exc:
        raise StageConfigError(f"with.{field}: {path}:{exc.lineno}: invalid JSON") from None


def _predicate(name: str, config: SignConfig, ctx: StageContext, started: datetime) -> Any:
    if name == SBOM.name:
        return _read_json(ctx, "sbom_file", config.sbom_file)
    if name == SCAN.name:
        return _read_json(ctx, "scan_verdict_file", config.scan_verdict_file)
    if name == PROVENANCE.name:
        return slsa_provenance(
            config.provenance_inputs(ctx), ctx.run_id, started, datetime.now(UTC)
        )
    metrics = _read_json(ctx, "evaluation.metrics_file", config.evaluation.metrics_file)
    verdict = config.evaluation.verdict or str(metrics.get("verdict", "unknown"))
    model = config.model_info(ctx)
    return evaluation_predicate(metrics, verdict, model.name, model.version)


def _scan_problem(config: SignConfig, ctx: StageContext) -> str | None:
    """An image is signed only when a scan verdict for this very digest passed, unless
    ``with.unscanned`` says why not (and that is recorded). A verdict that is attested must be
    this image's own, and agree with its findings, with or without ``unscanned``."""
    attesting = SCAN.name in config.attest
    if config.unscanned and not attesting:
        return None
    fix = "scan it first (lockgate/scan), or give with.unscanned: WHY (recorded)"
    path = ctx.resolve(config.scan_verdict_file)
    try:
        digest = config.image_ref(ctx).digest
        verdict = json.loads(path.read_text())
    except LockgateError:
        return None  # the image itself is reported by the caller
    except FileNotFoundError:
        if attesting:
            return None  # reported with the scan attestation's own input
        return f"with.scan_verdict_file: {path} not found: no scan verdict for the image; {fix}"
    except (OSError, ValueError) as exc:
        return f"with.scan_verdict_file: {path}: not a scan verdict ({exc}); {fix}"
    problem = verdict_problem(verdict, digest)
    if problem is not None:
        return f"with.scan_verdict_file: {path}: {problem}; refusing to sign with it; {fix}"
    if not config.unscanned and verdict.get("passed") is not True:
        return (
            f"with.scan_verdict_file: the scan of {digest} failed ({path}): refusing to sign an "
            f"image whose scan did not pass; {fix}"
        )
    return None


def _sbom_problem(config: SignConfig, ctx: StageContext, sbom: Any) -> str | None:
    """The SBOM attested must describe this image (trivy names the digest in it)."""
    try:
        digest = config.image_ref(ctx).digest
    except LockgateError:
        return None  # the image itself is reported by the caller
    problem = sbom_problem(sbom, digest)
    if problem is None:
        return None
    path = ctx.resolve(config.sbom_file)
    return (
        f"with.sbom_file: {path}: {problem}; give the SBOM of this image (the scan stage "
        "writes it as sbom.cdx.json)"
    )


def preflight(config: SignConfig, ctx: StageContext, started: datetime) -> dict[str, Any]:
    """Every required input checked before anything is signed: the signer, the image, the key
    file and each attestation's input. All problems are reported together, so a new setup is
    fixed in one round rather than one field per run. Returns the predicates by name."""
    problems: list[str] = []
    signer_problem = config.signer_problem()
    if signer_problem:
        problems.append(signer_problem)
    try:
        config.image_ref(ctx)
    except LockgateError as exc:
        problems.append(str(exc))
    key = config.key
    if key is not None and not is_kms_uri(key) and not ctx.resolve(key).is_file():
        problems.append(f"with.key: {ctx.resolve(key)} not found (a cosign key file)")
    scan_problem = _scan_problem(config, ctx)
    if scan_problem:
        problems.append(scan_problem)
    predicates: dict[str, Any] = {}
    for name in dict.fromkeys(config.attest):
        try:
            predicates[name] = _predicate(name, config, ctx, started)
        except LockgateError as exc:
            problems.append(str(exc))
    if SBOM.name in predicates:
        sbom_problem_line = _sbom_problem(config, ctx, predicates[SBOM.name])
        if sbom_problem_line:
            problems.append(sbom_problem_line)
    prefix = f"stage {ctx.stage or '?'}: "
    problems = list(dict.fromkeys(p.removeprefix(prefix) for p in problems))  # one line each
    if len(problems) == 1:
        raise StageConfigError(problems[0])
    if problems:
        raise StageConfigError(
            f"stage {ctx.stage or 'sign'}: {len(problems)} problems in with:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return predicates


def main(ctx: StageContext) -> int:
    started = datetime.now(UTC)
    config = parse_with(SignConfig, ctx)
    assert isinstance(config, SignConfig)
    built = preflight(config, ctx, started)
    ref = config.image_ref(ctx)
    signer = config.signer(ctx)
    tlog = config.tlog_upload or config.keyless is not None
    cosign = CosignClient(
        find_cosign(), ctx.state / "cosign-tuf", config.access(ctx, ref), tlog_upload=tlog
    )
    folder = ctx.out / "attestations"
    folder.mkdir(parents=True, exist_ok=True)
    predicates: dict[str, Path] = {}
    for name, predicate in built.items():  # every predicate is built before signing anything
        predicates[name] = folder / f"{name}.predicate.json"
        write_json(predicates[name], predicate)
        write_json(
            folder / f"{name}.intoto.json", statement(ref.name, ref.digest, KINDS[name], predicate)
        )

    def attest_all() -> None:  # one after another: each attest rewrites the same .att tag
        for kind_name, path in predicates.items():
            cosign.attest(ref, signer, path, KINDS[kind_name].cosign_type)

    # the signature lives under its own tag, so it is written while the attestations are
    with ThreadPoolExecutor(max_workers=2) as pool:
        signing, attesting = pool.submit(cosign.sign, ref, signer), pool.submit(attest_all)
        signing.result()
        attesting.result()
    record = {
        "image": str(ref),
        "digest": ref.digest,
        "signed_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "mode": "keyless" if config.keyless is not None else "key",
        "transparency_log": tlog,
        "attestations": {name: KINDS[name].predicate_type for name in predicates},
        **({"unscanned": config.unscanned} if config.unscanned else {}),
    }
    write_json(ctx.out / "signed.json", record)
    lines = [f"## Signed `{ref}`", "", f"Mode: {record['mode']}, transparency log: {tlog}", ""]
    lines += [f"- {name}: `{KINDS[name].predicate_type}`" for name in predicates]
    if config.unscanned:
        lines += [
            "",
            f"**Signed without a passing scan verdict** (with.unscanned): {config.unscanned}",
        ]
    write_atomic(ctx.out / "report.md", "\n".join(lines) + "\n")
    write_json(ctx.out / "metrics.json", {"attestations": len(predicates)})
    return 0
