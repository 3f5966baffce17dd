"""pipelines/release end to end, as scripts/quickstart runs it: the stages under the docker
executor (each in its runner image), a real registry with TLS and basic auth, real trivy and
cosign, the embedded MLflow store, canaries through nginx on the Docker engine, approvals
signed with the approvers' own SSH keys. Then the gates that must stop bad input: a registry
that is down, and a candidate worse than the champion; production is untouched by both."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pipelines.release_background import BACKGROUND, TIMEOUT_S, release_argv, release_env
from tests.projects import lockgate

# three pipeline runs and four canaries: about 25 minutes on a loaded 2-core machine; the run
# starts with the session (release_background.py) and overlaps the tests before this module
pytestmark = [pytest.mark.slow, pytest.mark.docker, pytest.mark.timeout(3600)]


def _release(state: Path, suffix: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        release_argv(state, suffix, *args),
        env=release_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


@pytest.fixture(scope="module")
def released(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    base_image: str,
    trivy_bin: Path,
    cosign_bin: Path,
) -> Iterator[tuple[dict, Path, str]]:
    run = request.config.stash.get(BACKGROUND, None)
    if run is not None:  # started with the session: wait for it to end
        run.taken = True
        code, stdout, stderr = run.result()
        state, suffix = run.state, run.suffix
    else:
        state = tmp_path_factory.mktemp("release")
        suffix = f"-t{secrets.token_hex(3)}"
        done = _release(state, suffix, "--free-port", "--json", str(state / "outcome.json"))
        code, stdout, stderr = done.returncode, done.stdout, done.stderr
    try:
        assert code == 0, stdout[-6000:] + stderr[-4000:]
        yield json.loads((state / "outcome.json").read_text()), state / "project", suffix
    finally:
        _release(state, suffix, "--down")


def _ledger(project: Path) -> list[dict]:
    lines = (project / ".lockgate" / "ledger" / "ledger.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _env(project: Path, suffix: str) -> dict[str, str]:
    """What the release script gives the CLI: the registry's CA and credentials."""
    secrets_dir = project.parent / "secrets"
    return {
        "SSL_CERT_FILE": str(project.parent / "ca-bundle.pem"),
        "LOCKGATE_REGISTRY_USERNAME": "pusher",
        "LOCKGATE_REGISTRY_PASSWORD": (secrets_dir / "registry-password").read_text().strip(),
        "RELEASE_REGISTRY_USER": "pusher",
        "RELEASE_REGISTRY_PASSWORD": (secrets_dir / "registry-password").read_text().strip(),
        "RELEASE_COSIGN_PASSWORD": (secrets_dir / "cosign-password").read_text().strip(),
        "LOCKGATE_IDENTITY_KEY": str(project.parent / "people" / "release-bot"),
    }


def _serving(project: Path, env: str) -> str:
    status = lockgate("rollout", "status", env, "--json", cwd=project)
    return json.loads(status.stdout)["stable"]["ref"]


def test_the_whole_path_and_the_bad_candidate(released: tuple[dict, Path, str]) -> None:
    outcome, project, suffix = released
    first, good, bad = outcome["candidates"]
    staging, production = f"staging{suffix}", f"production{suffix}"
    assert outcome["production_serves"] == good["ref"] == _serving(project, production)
    assert _serving(project, staging) == good["ref"]  # the bad canary rolled back by itself
    assert [c["model"] for c in (first, good, bad)] == [f"models:/release/{n}" for n in (1, 2, 3)]
    assert "p95_ms" in bad["abort"] and "aborted" in bad["abort"]
    assert outcome["refused"].startswith(f"{production} needs 2 valid approval(s) for ")
    assert f"has 0 (lena approved {first['ref'].split('@')[1][:19]}" in outcome["refused"]
    assert outcome["audit"].startswith("ok:")

    entries = _ledger(project)
    digest = good["ref"].split("@")[1]
    approvals = {(e["actor"], e["actor_source"]) for e in entries if e["action"] == "approve"
                 and e["digest"] == digest}  # fmt: skip
    assert approvals == {("lena", "ssh-key"), ("omar", "ssh-key")}
    promoted = [(e["environment"], e["digest"]) for e in entries if e["action"] == "promote"]
    assert promoted[-2:] == [(staging, digest), (production, digest)]
    refused = [e for e in entries if e["action"] == "refuse" and e["environment"] == production]
    assert refused and refused[0]["digest"] == digest
    bad_digest = bad["ref"].split("@")[1]
    assert [e["action"] for e in entries if e["digest"] == bad_digest] == ["begin", "abort"]
    assert all(e["digest"] != bad_digest for e in entries if e["environment"] == production)

    (found,) = outcome["lineage"]
    text = json.dumps(found)
    for part in (good["model"], digest, "lena", "omar"):
        assert part in text
    assert found["attestations"]["scan_passed"] == "true"


def test_a_registry_that_is_down_stops_promotion_at_verify(
    released: tuple[dict, Path, str],
) -> None:
    outcome, project, suffix = released
    first = outcome["candidates"][0]
    registry = project.parent / "registry"
    pid = int((registry / "registry.pid").read_text())
    os.kill(pid, 15)
    (registry / "registry.pid").unlink()
    env = _env(project, suffix)
    refused = lockgate("promote", f"staging{suffix}", "--image", first["ref"], cwd=project, env=env)
    assert refused.code == 1
    assert refused.stderr.startswith(f"verify failed for {first['ref']}"), refused.stderr
    assert "Traceback" not in refused.stderr
    assert _serving(project, f"staging{suffix}") == outcome["candidates"][1]["ref"]
    assert _serving(project, f"production{suffix}") == outcome["candidates"][1]["ref"]


def test_a_candidate_worse_than_the_champion_stops_at_evaluate(
    released: tuple[dict, Path, str],
) -> None:
    outcome, project, suffix = released
    spec = project / "lockgate.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("epochs: 30", "epochs: 1").replace("lr: 0.003", "lr: 0.00001"))
    try:
        run = lockgate("run", "--executor", "docker", cwd=project, env=_env(project, suffix),
                       timeout=1500)  # fmt: skip
    finally:
        spec.write_text(text)
    assert run.code == 1
    output = run.stdout + run.stderr
    assert "✘ evaluate failed" in output and "Traceback" not in output
    assert "package" not in {line.split()[1] for line in output.splitlines() if "✔" in line}
    assert _serving(project, f"production{suffix}") == outcome["candidates"][1]["ref"]
