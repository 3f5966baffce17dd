"""`lockgate/scan` and `lockgate/sign` under the docker executor: trivy and cosign are not in
the runner image, so the executor lends the host's verified copies (read-only, pin checked again
inside) and the stages reach a registry on loopback. Real Docker engine, registry
(distribution), trivy and cosign; the signature is then verified on the host."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lockgate.executors.stage_tools import CONTAINER_TOOLS, stage_tools
from tests.projects import last_record, lockgate, write_project
from tests.supply.conftest import KEY_PASSWORD, PushImage
from tests.supply.registry_server import RegistryServer

pytestmark = pytest.mark.docker

SPEC = """\
version: 1
name: scanned
image: {{base: {base}}}
stages:
  scan:
    uses: lockgate/scan
    with: {{image: "{ref}", scanners: [secret], registry: {{plain_http: true}}}}
"""


def test_scan_runs_in_its_container_with_the_hosts_trivy(
    tmp_path, plain_registry: RegistryServer, push_image: PushImage, base_image: str, trivy
) -> None:
    ref = push_image(plain_registry, "team/app", {"app/config.txt": b"nothing secret\n"})
    root = write_project(tmp_path / "p", SPEC.format(base=base_image, ref=ref))
    result = lockgate("run", "--executor", "docker", cwd=root, timeout=600)
    stage = last_record(root)["stages"][0]
    log = Path(stage["log"]).read_text()
    assert result.code == 0, log + result.stderr
    assert "trivy not found" not in log
    assert f"scan: trivy secret on {ref} ..." in log and "scan: trivy secret on" in log
    verdict = json.loads((Path(stage["out"]) / "scan-verdict.json").read_text())
    assert verdict["passed"] is True


def test_only_tool_stages_get_tools(trivy) -> None:
    assert stage_tools("lockgate/train").mounts == ()
    tools = stage_tools("lockgate/scan")
    assert tools.env["LOCKGATE_TRIVY"] == f"{CONTAINER_TOOLS}/trivy"
    assert tools.mounts[0][0] == trivy.path.resolve() and tools.host_network


SIGNED = """\
version: 1
name: signed
image: {{base: {base}}}
secrets:
  cosign_password: {{env: SIGNED_COSIGN_PASSWORD}}
stages:
  scan:
    uses: lockgate/scan
    with: {{image: "{ref}", scanners: [secret], registry: {{plain_http: true}}}}
  sign:
    uses: lockgate/sign
    needs: [scan]
    secrets: [cosign_password]
    with:
      image: "{ref}"
      key: keys/cosign.key
      key_password_secret: cosign_password
      attest: [sbom, provenance, scan]
      provenance: {{builder_id: "https://ci.example.org/r", source_repo: "git+https://git.example.org/a/b"}}
      registry: {{plain_http: true}}
"""


def test_sign_runs_in_its_container_with_the_hosts_cosign(
    tmp_path,
    plain_registry: RegistryServer,
    push_image: PushImage,
    base_image: str,
    trivy,
    cosign,
    key_pair,
) -> None:
    ref = str(push_image(plain_registry, "team/signed", {"app/model.txt": b"weights\n"}))
    root = write_project(tmp_path / "p", SIGNED.format(base=base_image, ref=ref))
    (root / "keys").mkdir()
    shutil.copy(key_pair[0], root / "keys" / "cosign.key")
    shutil.copy(key_pair[1], root / "keys" / "cosign.pub")
    (root / "verify.yaml").write_text("key: keys/cosign.pub\nrequire: [sbom, provenance, scan]\n")
    env = {"SIGNED_COSIGN_PASSWORD": KEY_PASSWORD, "TUF_ROOT": str(tmp_path / "tuf")}
    result = lockgate("run", "--executor", "docker", cwd=root, env=env, timeout=600)
    record = last_record(root)
    logs = "".join(Path(s["log"]).read_text() for s in record["stages"] if s.get("log"))
    assert result.code == 0, logs + result.stderr
    assert [s["state"] for s in record["stages"]] == ["ok", "ok"]
    assert "cosign not found" not in logs and KEY_PASSWORD not in logs + result.stderr
    verify = lockgate("verify", ref, "--policy", "verify.yaml", "--plain-http", cwd=root, env=env)
    assert verify.code == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith(f"verified: {ref}")
