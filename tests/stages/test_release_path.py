"""The whole supply chain and the first release gate through the real CLI, the way a CI job runs
it (the local executor, inside an environment that has the engine and the pinned tools):
prepare → package (build + push to a real registry) → scan (real trivy) → sign (real cosign,
SBOM, provenance, scan verdict attestations), then `lockgate verify` and `lockgate promote`,
which verifies again, deploys and writes the ledger; `lockgate audit verify` checks it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.delivery.people import Team
from tests.projects import last_record, lockgate, states, write_project
from tests.serving.bundles import LINEAR_CODE
from tests.stages.package.test_pipeline import PREPARE

pytestmark = pytest.mark.docker
PASSWORD = "release-path-key-password"


def _project(root: Path, base_image: str, repository: str) -> Path:
    return write_project(
        root,
        f"""\
        version: 1
        name: release
        image: {{base: {base_image}}}
        secrets:
          cosign_password: {{env: RELEASE_COSIGN_PASSWORD}}
        stages:
          prepare:
            run: [python3, steps/prepare.py]
            outputs: [model/model-card.json]
          package:
            uses: lockgate/package
            needs: [prepare]
            engine: true
            with: {{model: in:prepare/model, repository: {repository}, version: "7", base: {base_image}}}
          scan:
            uses: lockgate/scan
            needs: [package]
            with: {{scanners: [secret, misconfig], registry: {{plain_http: true}}}}
          sign:
            uses: lockgate/sign
            needs: [package, scan]
            secrets: [cosign_password]
            with:
              key: keys/cosign.key
              key_password_secret: cosign_password
              tlog_upload: false
              attest: [sbom, provenance, scan]
              provenance: {{builder_id: "https://ci.example.org/runners/release", source_repo: "git+https://git.example.org/acme/release"}}
              registry: {{plain_http: true}}
        environments:
          - {{name: staging}}
        policy:
          verify: verify.yaml
          allowed_signers: allowed_signers
        """,
        {
            "steps/prepare.py": PREPARE,
            "linear_rule.py": LINEAR_CODE,
            "verify.yaml": "key: keys/cosign.pub\nrequire: [sbom, provenance, scan]\n"
            'model_version: "7"\n',
        },
    )


def test_package_scan_sign_verify_promote(tmp_path, registry, base_image, cosign_bin, trivy_bin):
    root = _project(tmp_path / "release", base_image, f"{registry.host}/models/release")
    Team(root, {"release-bot": ()})  # keys/release-bot, listed in allowed_signers
    env = {"COSIGN_PASSWORD": PASSWORD, "TUF_ROOT": str(tmp_path / "tuf")}
    subprocess.run(
        [str(cosign_bin), "generate-key-pair"],
        cwd=root / "keys",
        check=True,
        env={**os.environ, **env},
        capture_output=True,
    )
    run_env = {
        "RELEASE_COSIGN_PASSWORD": PASSWORD,
        "LOCKGATE_TRIVY": str(trivy_bin),
        "LOCKGATE_COSIGN": str(cosign_bin),
    }
    result = lockgate(
        "run", "--executor", "local", "--export-dir", "x", cwd=root, env=run_env, timeout=900
    )
    assert result.code == 0, result.stderr[-4000:]
    assert states(last_record(root)) == dict.fromkeys(["prepare", "package", "scan", "sign"], "ok")
    assert PASSWORD not in result.stdout + result.stderr
    ref = json.loads((root / "x" / "package" / "image.json").read_text())["ref"]
    assert json.loads((root / "x" / "scan" / "scan-verdict.json").read_text())["passed"] is True

    verify = lockgate("verify", ref, "--policy", "verify.yaml", "--plain-http", cwd=root)
    assert verify.code == 0, verify.stdout + verify.stderr
    assert verify.stdout.startswith(f"verified: {ref}")

    promote = lockgate(
        "promote",
        "staging",
        "--image",
        ref,
        "--author",
        "dana",
        cwd=root,
        env={"LOCKGATE_VERIFY_PLAIN_HTTP": "1", "LOCKGATE_IDENTITY_KEY": "keys/release-bot"},
    )
    assert promote.code == 0, promote.stdout + promote.stderr
    history = lockgate("history", "staging", "--json", cwd=root)
    assert history.code == 0 and ref.split("@")[1] in history.stdout
    lineage = lockgate("lineage", ref, "--json", cwd=root, env={"LOCKGATE_VERIFY_PLAIN_HTTP": "1"})
    assert lineage.code in (0, 1), lineage.stderr  # 1: some link broken (no MLflow registry here)
    (found,) = json.loads(lineage.stdout)
    facts = found["attestations"]
    assert facts["mlflow_run"] == "cli-run-1" and facts["scan_passed"] == "true"
    audit = lockgate("audit", "verify", cwd=root)
    assert audit.code == 0, audit.stdout + audit.stderr

    other = ref.split("@")[0] + "@sha256:" + "0" * 64  # never signed, never pushed
    refused = lockgate(
        "promote",
        "staging",
        "--image",
        other,
        "--author",
        "dana",
        cwd=root,
        env={"LOCKGATE_VERIFY_PLAIN_HTTP": "1", "LOCKGATE_IDENTITY_KEY": "keys/release-bot"},
    )
    assert refused.code == 1
    assert "verify failed" in refused.stderr
