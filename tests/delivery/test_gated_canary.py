"""The one way into a gated environment, on real components: the serving image, pushed by the
Docker engine to a real registry (docker-registry on loopback, plain HTTP) and signed by the
real sign stage with real cosign, goes through ``lockgate promote``, whose ``rollout`` deployer
puts it live on the Docker engine behind the nginx proxy. ``lockgate rollout start`` refuses it
and an unsigned image alike (it would go around the gates); promote's verify refuses the
unsigned one. Through the real CLI entry point, the acting person proving who they are with
their own key in the team's allowed-signers file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from lockgate.__main__ import main
from lockgate.delivery.environment import open_environment
from lockgate.stages import sign
from lockgate.stages.package.push import PushPolicy, push_image
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient
from lockgate.supply.tools import ToolMissing, find_cosign
from tests.conftest import missing_component
from tests.delivery.gatekit import SPEC
from tests.delivery.people import Team
from tests.supply.conftest import _key_pair
from tests.supply.pipeline import SIGN_SECRETS, sign_with, stage_ctx
from tests.supply.registry_server import RegistryServer, free_port

ROLLOUT = (
    "{target: docker, canary: {steps: [{weight: 10, pause: {duration: 1.5}}, {weight: 100}]},"
    " docker: {drain_s: 0.3, ready_timeout_s: 30}}"
)


def rows(root: Path) -> list[dict[str, Any]]:
    lines = (root / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.docker
def test_a_signed_image_goes_through_promote_and_no_image_around_it(
    tmp_path: Path, monkeypatch, capsys, docker_client, base_image, serving_image, proxy_image
) -> None:
    if shutil.which("docker-registry") is None:
        missing_component("docker-registry is not installed (apt-get install docker-registry)")
    try:
        cosign = find_cosign()
    except ToolMissing as exc:
        missing_component(f"cosign is not installed: {exc}")
    env = f"t{os.getpid()}gate"
    project = tmp_path / "project"
    project.mkdir()
    team = Team(project, {"ci-bot": ()})
    public = _key_pair(tmp_path / "cosign", cosign)[1]
    shutil.copy(public, project / "cosign.pub")
    (project / "verify.yaml").write_text("key: cosign.pub\nrequire: []\n")
    policy = f"policy:\n  verify: verify.yaml\n  allowed_signers: {team.allowed_signers.name}\n"
    (project / "lockgate.yaml").write_text(
        SPEC.replace(
            "  - {name: staging, health_markers: [sre]}\n",
            f"  - {{name: {env}, deployer: rollout, rollout: {ROLLOUT}}}\n",
        ).replace("policy:\n", policy)
    )
    for variable in ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LOCKGATE_BASE_IMAGE", base_image)
    monkeypatch.setenv("LOCKGATE_IDENTITY_KEY", str(team.key("ci-bot")))
    monkeypatch.chdir(project)

    registry = RegistryServer(tmp_path / "registry", free_port()).start()
    repository = f"{registry.host}/ml/serving"
    try:
        pushed = push_image(
            docker_client, serving_image, repository, "v1", None, PushPolicy(retries=0), print
        )
        signed = f"{repository}@{pushed}"
        how = sign_with(ImageRef.parse(signed), tmp_path / "cosign" / "cosign.key", [])
        assert sign.main(stage_ctx(tmp_path / "sign", "sign", how, secrets=SIGN_SECRETS)) == 0
        unsigned = str(
            RegistryClient(registry.access()).push_image(
                ImageRef.parse(f"{registry.host}/ml/unsigned"),
                build_image([layer_from_files({"app/model.txt": b"never signed"})]),
            )
        )
        capsys.readouterr()

        promote = ["promote", env, "--author", "dana", "--plain-http", "--image"]
        assert main([*promote, signed]) == 0, capsys.readouterr().err
        assert f"promoted {signed} in {env}" in capsys.readouterr().out
        for image in (unsigned, signed):
            for proof in (["--print-statement"], []):  # a statement, and the proven command
                assert main(["rollout", "start", env, "--ref", image, *proof]) == 2
                err = capsys.readouterr().err
                assert f"{env} is gated (verify against policy.verify (verify.yaml))" in err
                assert f"run `lockgate promote {env} --image {image}`" in err
        assert main([*promote, unsigned]) == 1
        assert capsys.readouterr().err.startswith(f"verify failed for {unsigned}")
        assert open_environment(env).status().stable.ref == signed
    finally:
        open_environment(env, start=project).target.teardown()
        registry.stop()
        docker_client.images.remove(f"{repository}:v1")
    assert [(e["action"], e["actor"]) for e in rows(project)] == [
        ("begin", "ci-bot"),
        ("promote", "ci-bot"),
        ("healthy", "ci-bot"),
        ("refuse", "ci-bot"),
    ]
    assert rows(project)[-1]["details"]["op"] == "promote"
    assert main(["audit", "verify"]) == 0
