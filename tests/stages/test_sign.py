"""The ``lockgate/sign`` stage with real cosign against real registries."""

# ruff: noqa: F811  (fixtures imported from tests.supply.conftest are taken as arguments)

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lockgate.stages import BUILTIN_STAGES
from lockgate.stages.sign import main
from lockgate.stages.supply_config import StageConfigError
from lockgate.supply.cosign import CosignClient, CosignFailed
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.registry import RegistryClient
from lockgate.supply.tools import find_cosign
from lockgate.supply.verify import verify_image
from lockgate.supply.verify_policy import VerifyPolicy
from tests.supply.conftest import (  # noqa: F401  (fixtures used by name below)
    KEY_PASSWORD,
    PushImage,
    cosign,
    key_pair,
    plain_registry,
    push_image,
    tls_registry,
)
from tests.supply.pipeline import SIGN_SECRETS, sign_with, stage_ctx
from tests.supply.registry_server import PASSWORD, RegistryServer

PROVENANCE = {
    "builder_id": "https://ci.example/lockgate-runner",
    "source_repo": "git+https://git.example/team/churn",
    "base_image": "registry.example/python@sha256:" + "2" * 64,
    "datasets": {"train": "sha256:" + "3" * 64, "holdout": "sha256:" + "4" * 64},
}


def test_sign_is_registered() -> None:
    assert BUILTIN_STAGES["sign"] == "lockgate.stages.sign:main"


def test_provenance_and_evaluation_attestations_record_their_inputs(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "sign/prov:v1", {"app/model.txt": b"w"})
    train = tmp_path / "train-out"
    train.mkdir()
    (train / "provenance.json").write_text(json.dumps({"mlflow_run_id": "9b1e77"}))
    evaluate = tmp_path / "evaluate-out"
    evaluate.mkdir()
    (evaluate / "metrics.json").write_text(json.dumps({"f1": 0.82, "verdict": "promote"}))
    ctx = stage_ctx(
        tmp_path,
        "sign",
        sign_with(
            ref,
            key_pair[0],
            ["provenance", "evaluation"],
            provenance=PROVENANCE,
            provenance_from=["in:train/provenance.json"],
            model={"name": "churn", "version": "12"},
        ),
        inputs={"train": train, "evaluate": evaluate},
        secrets=SIGN_SECRETS,
        git_sha="c" * 40,
    )
    (ctx.workspace / "lockgate.yaml").write_text("stages: {}\n")
    assert main(ctx) == 0
    stmt = json.loads((ctx.out / "attestations" / "provenance.intoto.json").read_text())
    assert stmt["_type"] == "https://in-toto.io/Statement/v1"
    assert stmt["predicateType"] == "https://slsa.dev/provenance/v1"
    assert stmt["subject"] == [{"name": ref.name, "digest": {"sha256": ref.digest[7:]}}]
    build = stmt["predicate"]["buildDefinition"]
    assert build["externalParameters"]["source"] == {
        "uri": "git+https://git.example/team/churn",
        "digest": {"gitCommit": "c" * 40},
    }
    assert build["internalParameters"] == {"mlflowRunId": "9b1e77"}
    assert [(d.get("name"), d["digest"]) for d in build["resolvedDependencies"]] == [
        (None, {"gitCommit": "c" * 40}),
        ("base-image", {"sha256": "2" * 64}),
        ("dataset:holdout", {"sha256": "4" * 64}),
        ("dataset:train", {"sha256": "3" * 64}),
    ]
    assert stmt["predicate"]["runDetails"]["builder"]["id"] == PROVENANCE["builder_id"]
    assert stmt["predicate"]["runDetails"]["metadata"]["invocationId"] == "run-7"
    evaluation = json.loads((ctx.out / "attestations" / "evaluation.predicate.json").read_text())
    assert evaluation == {
        "model": {"name": "churn", "version": "12"},
        "metrics": {"f1": 0.82, "verdict": "promote"},
        "verdict": "promote",
    }
    signed = json.loads((ctx.out / "signed.json").read_text())
    assert signed["digest"] == ref.digest and signed["transparency_log"] is False
    for output in ctx.out.rglob("*.json"):
        assert KEY_PASSWORD not in output.read_text()


def test_spec_digest_is_the_sha256_of_lockgate_yaml(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    import hashlib

    ref = push_image(plain_registry, "sign/spec:v1", {"app/x": b"spec"})
    ctx = stage_ctx(
        tmp_path,
        "sign",
        sign_with(ref, key_pair[0], ["provenance"], provenance=PROVENANCE),
        secrets=SIGN_SECRETS,
    )
    (ctx.workspace / "lockgate.yaml").write_text("stages: {train: {}}\n")
    assert main(ctx) == 0
    stmt = json.loads((ctx.out / "attestations" / "provenance.intoto.json").read_text())
    spec = stmt["predicate"]["buildDefinition"]["externalParameters"]["spec"]
    assert spec["digest"] == {"sha256": hashlib.sha256(b"stages: {train: {}}\n").hexdigest()}


def test_sign_and_verify_over_tls_with_basic_auth(
    tls_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    assert tls_registry.tls is not None
    ref = push_image(tls_registry, "sign/private:v1", {"app/x": b"private"})
    registry = {
        "username_secret": "reg-user",
        "password_secret": "reg-pass",
        "ca_file": str(tls_registry.tls[0]),
    }
    secrets = {**SIGN_SECRETS, "reg-user": "lockgate", "reg-pass": PASSWORD}
    with_ = {
        **sign_with(ref, key_pair[0], ["provenance"], provenance=PROVENANCE),
        "registry": registry,
    }
    assert main(stage_ctx(tmp_path / "ok", "sign", with_, secrets=secrets)) == 0
    access = tls_registry.access()
    report = verify_image(
        str(ref),
        VerifyPolicy(key=str(key_pair[1]), require=["provenance"]),
        cosign=CosignClient(find_cosign(), tmp_path / "tuf", access),
        registry=RegistryClient(access),
    )
    assert report.passed, report.render()
    bad = stage_ctx(
        tmp_path / "bad", "sign", with_, secrets={**secrets, "reg-pass": "wrong-password"}
    )
    with pytest.raises(CosignFailed) as err:
        main(bad)
    message = str(err.value)
    assert message.startswith(f"cosign sign {ref} failed: ")
    assert "UNAUTHORIZED" in message or "401" in message
    assert "wrong-password" not in message and "\n" not in message


def test_wrong_key_password_is_a_clear_failure(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "sign/badpass:v1", {"app/x": b"p"})
    ctx = stage_ctx(
        tmp_path, "sign", sign_with(ref, key_pair[0], []), secrets={"cosign-password": "not it"}
    )
    with pytest.raises(CosignFailed, match=rf"^cosign sign {ref} failed: .*decrypt"):
        main(ctx)


def test_configuration_errors_name_the_field(tmp_path: Path, cosign: object) -> None:
    image = "r.example/app@sha256:" + "0" * 64
    both = stage_ctx(tmp_path / "a", "sign", {"image": image, "key": "k", "keyless": {}})
    with pytest.raises(StageConfigError, match="give exactly one of key or keyless"):
        main(both)
    loose = stage_ctx(
        tmp_path / "b",
        "sign",
        {
            "image": image,
            "key": "k",
            "attest": ["provenance"],
            "provenance": {**PROVENANCE, "base_image": "python:3.11"},
            "unscanned": "configuration errors under test",
        },
    )
    (tmp_path / "b" / "workspace" / "k").write_text("a key file\n")
    with pytest.raises(
        StageConfigError,
        match=r"^with\.provenance\.base_image: "
        r"base_image must be pinned by digest",
    ):
        main(loose)
    no_scan = stage_ctx(tmp_path / "c", "sign", {"image": image, "key": "k", "attest": ["scan"]})
    (tmp_path / "c" / "workspace" / "k").write_text("a key file\n")
    with pytest.raises(
        StageConfigError,
        match=r"^with\.scan_verdict_file: .*scan-verdict\.json "
        r"not found \(did the upstream stage run\?\)",
    ):
        main(no_scan)


def test_image_model_and_base_come_from_the_package_stage_record(
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    ref = push_image(plain_registry, "sign/packaged:v1", {"app/x": b"packaged"})
    package = tmp_path / "package-out"
    package.mkdir()
    base = "registry.example/lockgate/runner@sha256:" + "5" * 64
    (package / "image.json").write_text(
        json.dumps(
            {
                "ref": str(ref),
                "repository": ref.name,
                "digest": ref.digest,
                "base": base,
                "model": {
                    "name": "churn",
                    "version": "4",
                    "run_id": "run-abc",
                    "flavor": "sklearn",
                },
            }
        )
    )
    evaluate = tmp_path / "evaluate-out"
    evaluate.mkdir()
    (evaluate / "metrics.json").write_text(json.dumps({"auc": 0.9, "verdict": "promote"}))
    with_ = sign_with(
        ref,
        key_pair[0],
        ["provenance", "evaluation"],
        provenance={
            "builder_id": "https://ci.example/r",
            "source_repo": "git+https://git.example/t/m",
        },
    )
    del with_["image"]  # the default image_file, in:package/image.json, names it
    ctx = stage_ctx(
        tmp_path,
        "sign",
        with_,
        inputs={"package": package, "evaluate": evaluate},
        secrets=SIGN_SECRETS,
    )
    assert main(ctx) == 0
    assert json.loads((ctx.out / "signed.json").read_text())["image"] == str(ref)
    stmt = json.loads((ctx.out / "attestations" / "provenance.intoto.json").read_text())
    build = stmt["predicate"]["buildDefinition"]
    assert build["internalParameters"] == {"mlflowRunId": "run-abc"}
    assert {
        "uri": "oci://registry.example/lockgate/runner",
        "name": "base-image",
        "digest": {"sha256": "5" * 64},
    } in build["resolvedDependencies"]
    evaluation = json.loads((ctx.out / "attestations" / "evaluation.predicate.json").read_text())
    assert evaluation["model"] == {"name": "churn", "version": "4"}


def test_missing_image_record_says_what_to_give(tmp_path: Path, cosign: object) -> None:
    ctx = stage_ctx(tmp_path, "sign", {"key": "k"})
    with pytest.raises(
        StageConfigError,
        match=r"with\.image_file: .*package/image\.json not "
        r"found; give with\.image",
    ):
        main(ctx)


def test_every_missing_required_field_is_reported_at_once(tmp_path: Path, cosign: object) -> None:
    """An empty ``with:`` names the signer, the image and each attestation input in one error,
    instead of one per run."""
    ctx = stage_ctx(tmp_path, "sign", {})
    with pytest.raises(StageConfigError) as caught:
        main(ctx)
    message = str(caught.value)
    assert message.startswith("stage sign: 4 problems in with:\n")
    lines = message.splitlines()[1:]
    assert lines[0].startswith("  - with.key: required: give exactly one of key or keyless")
    assert "with.image_file: " in lines[1] and "give with.image" in lines[1]
    assert "with.sbom_file: " in lines[2] and "not found" in lines[2]
    assert "with.scan_verdict_file: " in lines[3] and "not found" in lines[3]


def test_a_missing_key_file_is_named_before_cosign_runs(tmp_path: Path, cosign: object) -> None:
    image = "r.example/app@sha256:" + "0" * 64
    with_ = {"image": image, "key": "keys/absent.key", "attest": [], "unscanned": "not under test"}
    ctx = stage_ctx(tmp_path, "sign", with_)
    with pytest.raises(StageConfigError, match=r"^with\.key: .*keys/absent\.key not found"):
        main(ctx)


def test_an_image_without_a_passing_scan_of_its_own_digest_is_not_signed(
    tmp_path: Path,
    plain_registry: RegistryServer,
    push_image: PushImage,
    key_pair: tuple[Path, Path],
    cosign: object,
) -> None:
    """Called directly, the sign stage once signed an image whose scan had failed. Now it
    refuses a failed verdict, a verdict for another digest and no verdict at all, before cosign
    runs; the explicit override signs and is recorded."""
    ref = push_image(plain_registry, "sign/unscanned:v1", {"app/model.txt": b"unscanned"})
    client = RegistryClient(plain_registry.access())
    sig = ImageRef(ref.registry, ref.repository, ref.digest.replace(":", "-") + ".sig")
    other = "r.example/app@sha256:" + "1" * 64

    def attempt(name: str, verdict: dict | None, **extra: object) -> Path:
        scan = tmp_path / name / "scan-out"
        scan.mkdir(parents=True)
        if verdict is not None:
            (scan / "scan-verdict.json").write_text(json.dumps(verdict))
        with_ = sign_with(ref, key_pair[0], [], **{"unscanned": None, **extra})
        ctx = stage_ctx(tmp_path / name, "sign", with_, {"scan": scan}, SIGN_SECRETS)
        main(ctx)
        return ctx.out

    base = {"schema": "lockgate.scan-verdict/v1", "artifact": str(ref)}
    with pytest.raises(StageConfigError, match=f"the scan of {ref.digest} failed"):
        attempt("failed", {**base, "passed": False})
    with pytest.raises(StageConfigError, match=f"is the verdict for {other}, not for {ref.digest}"):
        attempt("elsewhere", {**base, "artifact": other, "passed": True})
    with pytest.raises(StageConfigError, match="not found: no scan verdict for the image"):
        attempt("none", None)
    assert client.find(sig) is None  # nothing was signed by any of them

    out = attempt("override", None, unscanned="hotfix image, scanned out of band (INC-42)")
    record = json.loads((out / "signed.json").read_text())
    assert record["unscanned"] == "hotfix image, scanned out of band (INC-42)"
    assert "Signed without a passing scan verdict" in (out / "report.md").read_text()
    assert client.find(sig) is not None
    passed = attempt("passed", {**base, "passed": True})
    assert "unscanned" not in json.loads((passed / "signed.json").read_text())
