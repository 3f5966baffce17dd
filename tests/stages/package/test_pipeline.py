"""``prepare`` -> ``package`` through the real CLI and the docker executor: the package stage
runs in the pipeline's runner image, talks to the engine through the socket ``engine: true``
mounts, builds FROM that same runner image and pushes to a real registry."""

from __future__ import annotations

import json

import pytest

from tests.projects import last_record, lockgate, states, write_project
from tests.serving.bundles import LINEAR_CODE
from tests.stages.package.stagerun import request, serving

pytestmark = pytest.mark.docker

PREPARE = """\
import json, os, pathlib
out = pathlib.Path(os.environ["LOCKGATE_OUT"])
(out / "model").mkdir()
(out / "model" / "weights.json").write_text(json.dumps({"w": [1.0, 1.0], "b": 1.0}))
(out / "model" / "model-card.json").write_text(json.dumps({
    "entrypoint": "linear_rule:build", "flavor": "python", "n_features": 2,
    "labels": ["no", "yes"]}))
(out / "train-run.json").write_text(json.dumps({"mlflow_run_id": "cli-run-1"}))
"""


def flow_project(root, base_image: str, repository: str, downstream: str = ""):
    return write_project(
        root,
        f"""\
        version: 1
        name: pkgflow
        image:
          base: {base_image}
          requirements: requirements.txt
        stages:
          prepare:
            run: [python3, steps/prepare.py]
            inputs: [steps/prepare.py]
            outputs: [model/model-card.json]
          package:
            uses: lockgate/package
            needs: [prepare]
            engine: true
            with:
              model: in:prepare/model
              repository: {repository}
              source: https://git.example.org/acme/flow
              version: "2"
              retry_delay: 0.1
            outputs: [image.json]
        {downstream}""",
        {
            "requirements.txt": "docker>=7.0\n",
            "steps/prepare.py": PREPARE,
            "linear_rule.py": LINEAR_CODE,
        },
    )


def test_prepare_then_package_through_the_cli(tmp_path, registry, base_image, docker_client):
    root = flow_project(tmp_path / "flow", base_image, f"{registry.host}/models/flow")
    result = lockgate(
        "run", "--executor", "docker", "--export-dir", "exported", cwd=root, timeout=600
    )
    assert result.code == 0, result.stderr[-3000:]
    assert states(last_record(root)) == {"prepare": "ok", "package": "ok"}
    record = json.loads((root / "exported" / "package" / "image.json").read_text())
    assert registry.manifest_digest("models/flow", "2") == record["digest"]
    assert record["model"]["run_id"] == "cli-run-1"
    runner = docker_client.images.get(record["base"])
    assert runner.labels.get("dev.lockgate.recipe"), "built FROM the pipeline's runner image"
    with serving(docker_client, record["ref"]) as (_, port):
        status, body = request(port, "POST", "/invocations", {"inputs": [[2, 2]]})
        assert (status, json.loads(body)) == (200, {"predictions": ["yes"]})


def test_a_failed_push_stops_the_pipeline(tmp_path, base_image):
    from tests.stages.conftest import free_port

    deploy = "  deploy: {run: [python3, -c, 'print(1)'], needs: [package]}\n"
    root = flow_project(
        tmp_path / "flow", base_image, f"127.0.0.1:{free_port()}/models/flow", deploy
    )
    result = lockgate("run", "--executor", "docker", cwd=root, timeout=600)
    assert result.code == 1
    record = last_record(root)
    assert states(record)["package"] == "failed"
    assert states(record)["deploy"] != "ok"
    assert "failed after 4 attempt(s)" in result.stderr
    assert "Traceback" not in result.stderr
