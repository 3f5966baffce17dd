"""More attacks on signing and verify, against a real registry, real trivy and real cosign: a
CI-artifact writer who swaps or edits the scan verdict or SBOM before the sign stage reads it,
and a registry writer (no signing key) who pushes a signed image under another name or a
manifest whose config is not an image config. A document attested directly with cosign stands
for one signed before the sign stage checked it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages import scan as scan_stage
from lockgate.stages import sign as sign_stage
from lockgate.stages.supply_config import StageConfigError
from lockgate.supply.attestations import KINDS
from lockgate.supply.cosign import CosignClient, KeyPairSigner
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import CONFIG_TYPE, MANIFEST_TYPE, Blob, layer_from_files
from lockgate.supply.registry import RegistryClient
from lockgate.supply.tools import find_cosign

from .conftest import KEY_PASSWORD, PushImage
from .pipeline import SIGN_SECRETS, fake_aws_key, reasons, sign_with, stage_ctx, verify
from .registry_server import RegistryServer
from .test_verify import BASE

pytestmark = pytest.mark.usefixtures("trivy", "cosign")

LEAKY = {"app/deploy.sh": f"export AWS_ACCESS_KEY_ID={fake_aws_key()}\n".encode()}


def _scan(tmp: Path, ref: ImageRef, name: str) -> tuple[int, Path]:
    with_ = {"image": str(ref), "scanners": ["secret"], "registry": {"plain_http": True}}
    ctx = stage_ctx(tmp, name, with_)
    return scan_stage.main(ctx), ctx.out


def _sign(
    tmp: Path, ref: ImageRef, key: Path, attest: list[str], scan_out: Path, **extra: Any
) -> None:
    with_ = sign_with(ref, key, attest, **{"unscanned": None, **extra})
    sign_stage.main(stage_ctx(tmp, "sign", with_, {"scan": scan_out}, SIGN_SECRETS))


def _attest(
    server: RegistryServer, ref: ImageRef, key: Path, name: str, doc: Any, tmp: Path
) -> None:
    """Attest ``doc`` to ``ref`` with cosign itself, bypassing the sign stage's checks."""
    predicate = tmp / f"{name}.predicate.json"
    predicate.write_text(json.dumps(doc))
    cosign = CosignClient(find_cosign(), tmp / "tuf", server.access())
    signer = KeyPairSigner(str(key), KEY_PASSWORD)
    cosign.attest(ref, signer, predicate, KINDS[name].cosign_type)


def test_a_passing_scan_verdict_of_another_image_is_refused_by_sign_and_verify(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """with.unscanned once skipped every check of the verdict it still attested, so a clean
    image's passing verdict vouched for a leaky one."""
    clean = push_image(plain_registry, "more/clean:v1", {"app/x": b"clean"})
    leaky = push_image(plain_registry, "more/leaky:v1", LEAKY)
    rc, clean_scan = _scan(tmp_path, clean, "scan")
    assert rc == 0
    with pytest.raises(
        StageConfigError,
        match=f"it is the verdict for {clean}, not for {leaky.digest}; refusing to sign with it",
    ):
        _sign(tmp_path, leaky, key_pair[0], ["scan"], clean_scan, unscanned="hotfix")
    verdict = json.loads((clean_scan / "scan-verdict.json").read_text())
    _attest(plain_registry, leaky, key_pair[0], "scan", verdict, tmp_path)
    failed = reasons(
        verify(
            plain_registry,
            str(leaky),
            {"key": str(key_pair[1]), "require": ["scan"]},
            tmp_path / "tuf",
        )
    )
    assert failed["scan policy"] == (
        f"the signed scan verdict is refused: it is the verdict for {clean}, not for {leaky.digest}"
    )


def test_a_verdict_edited_to_say_passed_is_refused_by_sign_and_verify(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    leaky = push_image(plain_registry, "more/edited:v1", LEAKY)
    rc, scan_out = _scan(tmp_path, leaky, "scan")
    assert rc == 1
    verdict = json.loads((scan_out / "scan-verdict.json").read_text())
    verdict["passed"] = True
    verdict["deciding"] = []
    (scan_out / "scan-verdict.json").write_text(json.dumps(verdict))
    edited = "it says passed, yet 1 finding(s) in it have a fail_on severity (CRITICAL): the verdict was edited"
    with pytest.raises(StageConfigError, match=edited.replace("(", r"\(").replace(")", r"\)")):
        _sign(tmp_path, leaky, key_pair[0], ["scan"], scan_out)
    policy = {"key": str(key_pair[1]), "require": ["scan"]}
    _attest(plain_registry, leaky, key_pair[0], "scan", verdict, tmp_path)
    assert reasons(verify(plain_registry, str(leaky), policy, tmp_path / "tuf"))["scan policy"] == (
        f"the signed scan verdict is refused: {edited}"
    )
    # counts zeroed beside the findings that stay, and a fail_on that misses them
    again = push_image(plain_registry, "more/edited-counts:v1", {**LEAKY, "app/y": b"2"})
    verdict.update(artifact=str(again), fail_on=["HIGH"])
    verdict["counts"] = {sev: 0 for sev in verdict["counts"]}
    _attest(plain_registry, again, key_pair[0], "scan", verdict, tmp_path)
    failed = reasons(verify(plain_registry, str(again), policy, tmp_path / "tuf"))
    assert failed["scan policy"] == (
        "the signed scan verdict is refused: its counts do not match its findings: the "
        "verdict was edited"
    )


def test_an_sbom_of_another_image_is_refused_by_sign_and_verify(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    small = push_image(plain_registry, "more/sbom-a:v1", {"app/x": b"a"}, base=BASE)
    shipped = push_image(plain_registry, "more/sbom-b:v1", {"app/x": b"b"}, base=BASE)
    _, small_scan = _scan(tmp_path, small, "scan-a")
    _, shipped_scan = _scan(tmp_path, shipped, "scan-b")
    swapped = tmp_path / "swapped"
    shutil.copytree(shipped_scan, swapped)
    shutil.copy(small_scan / "sbom.cdx.json", swapped / "sbom.cdx.json")
    with pytest.raises(
        StageConfigError, match=f"with.sbom_file: .*: it describes {small}, not {shipped.digest}"
    ):
        _sign(tmp_path, shipped, key_pair[0], ["sbom", "scan"], swapped)
    _sign(tmp_path / "genuine", shipped, key_pair[0], ["sbom", "scan"], shipped_scan)
    policy = {"key": str(key_pair[1]), "require": ["sbom", "scan"]}
    assert verify(plain_registry, str(shipped), policy, tmp_path / "tuf").passed
    bom = json.loads((small_scan / "sbom.cdx.json").read_text())
    _attest(plain_registry, shipped, key_pair[0], "sbom", bom, tmp_path)
    assert reasons(verify(plain_registry, str(shipped), policy, tmp_path / "tuf")) == {
        "attestation sbom": f"the signed SBOM is refused: it describes {small}, not {shipped.digest}"
    }


def _copy(client: RegistryClient, src: ImageRef, dst: ImageRef, tag: str) -> None:
    """Copy one manifest and its blobs as ``dst:tag``: what push rights alone allow."""
    _, manifest = client.manifest(
        ImageRef(src.registry, src.repository, tag, "" if tag.endswith(".sig") else src.digest)
    )
    for desc in [manifest["config"], *manifest["layers"]]:  # type: ignore[list-item,misc]
        client.push_blob(dst, Blob(desc["mediaType"], client.blob(src, desc["digest"])))
    client.push_manifest(dst, json.dumps(manifest).encode(), str(manifest["mediaType"]), tag)


def test_an_image_signed_under_another_name_is_refused(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    """The team's key also signs a debug image; pushed (with its signature) into the model's
    repository, the same digest must not verify there."""
    debug = push_image(plain_registry, "more/debug-tools:v1", {"app/x": b"debug shell"})
    ctx = stage_ctx(tmp_path, "sign", sign_with(debug, key_pair[0], []), secrets=SIGN_SECRETS)
    assert sign_stage.main(ctx) == 0
    client = RegistryClient(plain_registry.access())
    churn = ImageRef(debug.registry, "more/churn")
    _copy(client, debug, churn, "v1")
    _copy(client, debug, churn, debug.digest.replace(":", "-") + ".sig")
    policy = {"key": str(key_pair[1]), "require": []}
    report = verify(plain_registry, str(churn.with_digest(debug.digest)), policy, tmp_path / "tuf")
    assert reasons(report)["signature"].startswith(
        f"the signature was made for {debug.name}, not {churn.name}: an image signed under "
        "another name was pushed here"
    )
    assert verify(plain_registry, str(debug), policy, tmp_path / "tuf").passed


@pytest.mark.parametrize("config", [b"[1, 2, 3]", b"not json", b'{"config": ["x"]}'])
def test_model_version_of_a_manifest_whose_config_is_not_an_image_config(
    plain_registry: RegistryServer, key_pair: tuple[Path, Path], tmp_path: Path, config: bytes
) -> None:
    """Anyone with push rights can push such a manifest; verify answers with requirements, not
    a traceback."""
    client = RegistryClient(plain_registry.access())
    ref = ImageRef.parse(f"{plain_registry.host}/more/junk:v1")
    layer, blob = layer_from_files({"app/x": b"x"}).blob, Blob(CONFIG_TYPE, config)
    for each in (layer, blob):
        client.push_blob(ref, each)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": blob.descriptor(),
        "layers": [layer.descriptor()],
    }
    digest = client.push_manifest(ref, json.dumps(manifest).encode(), MANIFEST_TYPE, "v1")
    policy = {"key": str(key_pair[1]), "require": [], "model_version": "3"}
    report = verify(plain_registry, str(ref.with_digest(digest)), policy, tmp_path / "tuf")
    assert reasons(report)["model version"] == (
        "image carries no model version (dev.lockgate.model.version or evaluation)"
    )
