"""Running the scan and sign stages for tests the way the engine would: a StageContext over
real folders, upstream outputs copied in, secrets as files. Also registry-level tampering that
an attacker with push rights could do."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lockgate.stages.context import StageContext
from lockgate.supply.cosign import CosignClient
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import Blob
from lockgate.supply.registry import RegistryClient
from lockgate.supply.registry_http import RegistryAccess
from lockgate.supply.tools import find_cosign
from lockgate.supply.verify import VerifyReport, verify_image
from lockgate.supply.verify_policy import VerifyPolicy

from .conftest import KEY_PASSWORD
from .registry_server import RegistryServer


def fake_aws_key() -> str:
    """An AWS-access-key-shaped string built at run time, so no key sits in the source."""
    return "AK" + "IA" + "".join(["Q7", "X5", "W2", "B4", "N6", "M8", "K1", "T3"])


def stage_ctx(
    root: Path,
    stage: str,
    with_: Mapping[str, Any],
    inputs: Mapping[str, Path] | None = None,
    secrets: Mapping[str, str] | None = None,
    git_sha: str = "",
) -> StageContext:
    folder = root / stage
    for name, src in (inputs or {}).items():
        shutil.copytree(src, folder / "in" / name)
    (folder / "secrets").mkdir(parents=True, exist_ok=True)
    for name, value in (secrets or {}).items():
        (folder / "secrets" / name).write_text(value)
    (root / "workspace").mkdir(exist_ok=True)
    return StageContext(
        workspace=root / "workspace",
        inputs=folder / "in",
        out=folder / "out",
        secrets_dir=folder / "secrets",
        state=root / "state",
        run_id="run-7",
        stage=stage,
        git_sha=git_sha,
        with_=dict(with_),
    )


def sign_with(ref: ImageRef, key: Path, attest: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "image": str(ref),
        "registry": {"plain_http": True},
        "key": str(key),
        "key_password_secret": "cosign-password",
        "attest": attest,
        # most tests sign images they never scanned (or whose scan failed, on purpose): the
        # explicit, recorded override; tests of the scan requirement pass unscanned=None
        "unscanned": "test image, scan not under test",
        **extra,
    }


SIGN_SECRETS = {"cosign-password": KEY_PASSWORD}


def verify(
    server: RegistryServer, ref: str, policy: Mapping[str, Any], tuf: Path, **kwargs: Any
) -> VerifyReport:
    access = server.access()
    cosign = CosignClient(find_cosign(), tuf, access)
    return verify_image(
        ref,
        VerifyPolicy.model_validate(policy),
        cosign=cosign,
        registry=RegistryClient(access),
        **kwargs,
    )


def reasons(report: VerifyReport) -> dict[str, str]:
    return {r.name: r.reason for r in report.failures()}


# -- what an attacker with push rights can do to the registry -----------------------------------
def _att_ref(ref: ImageRef, digest: str) -> ImageRef:
    return ImageRef(ref.registry, ref.repository, digest.replace(":", "-") + ".att")


def copy_attestations(
    access: RegistryAccess, ref: ImageRef, from_digest: str, to_digest: str
) -> None:
    """Make ``to_digest`` carry the attestations that were signed for ``from_digest``."""
    client = RegistryClient(access)
    source = _att_ref(ref, from_digest)
    _, manifest = client.manifest(source)
    body = json.dumps(manifest).encode()
    client.push_manifest(source, body, str(manifest["mediaType"]), _att_ref(ref, to_digest).tag)


def tamper_attestation(
    access: RegistryAccess,
    ref: ImageRef,
    predicate_type: str,
    mutate: Callable[[dict[str, Any]], None],
) -> None:
    """Rewrite the predicate of one stored attestation, keeping its old signature."""
    client = RegistryClient(access)
    target = _att_ref(ref, ref.digest)
    _, manifest = client.manifest(target)
    for layer in manifest["layers"]:  # type: ignore[union-attr]
        if layer.get("annotations", {}).get("predicateType") != predicate_type:
            continue
        envelope = json.loads(client.blob(target, layer["digest"]))
        stmt = json.loads(base64.b64decode(envelope["payload"]))
        mutate(stmt["predicate"])
        envelope["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
        blob = Blob(layer["mediaType"], json.dumps(envelope).encode())
        client.push_blob(target, blob)
        layer["digest"], layer["size"] = blob.digest, len(blob.data)
    client.push_manifest(
        target, json.dumps(manifest).encode(), str(manifest["mediaType"]), target.tag
    )


def reorder_attestations(
    access: RegistryAccess, ref: ImageRef, key: Callable[[dict[str, Any]], Any]
) -> list[dict[str, Any]]:
    """Re-push the ``.att`` manifest with its layers sorted by ``key``: needs push rights only,
    no signing key. Returns the layers in their new order."""
    client = RegistryClient(access)
    target = _att_ref(ref, ref.digest)
    _, manifest = client.manifest(target)
    layers: list[dict[str, Any]] = list(manifest["layers"])  # type: ignore[call-overload]
    manifest["layers"] = sorted(layers, key=key)
    body = json.dumps(manifest).encode()
    client.push_manifest(target, body, str(manifest["mediaType"]), target.tag)
    return list(manifest["layers"])  # type: ignore[call-overload]


def drop_attestations(
    access: RegistryAccess, ref: ImageRef, keep: Callable[[dict[str, Any]], bool]
) -> None:
    """Re-push the ``.att`` manifest without the layers ``keep`` rejects: push rights only."""
    client = RegistryClient(access)
    target = _att_ref(ref, ref.digest)
    _, manifest = client.manifest(target)
    manifest["layers"] = [x for x in manifest["layers"] if keep(x)]  # type: ignore[union-attr]
    body = json.dumps(manifest).encode()
    client.push_manifest(target, body, str(manifest["mediaType"]), target.tag)


def scan_passed_in(access: RegistryAccess, ref: ImageRef, layer: dict[str, Any]) -> bool:
    """What the signed scan verdict in one ``.att`` layer says (read, not verified)."""
    client = RegistryClient(access)
    envelope = json.loads(client.blob(_att_ref(ref, ref.digest), layer["digest"]))
    stmt = json.loads(base64.b64decode(envelope["payload"]))
    return bool(stmt["predicate"].get("passed"))
