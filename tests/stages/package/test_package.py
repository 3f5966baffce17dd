"""The package stage against a real engine and a real registry: build, push, run the image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lockgate.serving.metrics import parse_exposition
from lockgate.stages.package import main
from tests.serving.bundles import LINEAR_CODE, python_train_output, torch_train_output
from tests.stages.package.stagerun import request, serving, stage_context

pytestmark = pytest.mark.docker

REQUIRED_LABELS = (
    "org.opencontainers.image.source",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "dev.lockgate.model.name",
    "dev.lockgate.model.version",
    "dev.lockgate.mlflow.run_id",
)


def package_python_model(root: Path, repository: str, base: str) -> tuple[int, dict[str, Any]]:
    ctx = stage_context(
        root,
        {
            "model": "in:train/model",
            "repository": repository,
            "base": base,
            "source": "https://git.example.org/acme/rule",
            "created": "2026-01-02T03:04:05Z",
        },
    )
    (ctx.workspace / "linear_rule.py").write_text(LINEAR_CODE)
    python_train_output(ctx.inputs / "train")
    code = main(ctx)
    return code, json.loads((ctx.out / "image.json").read_text())


@pytest.fixture(scope="module")
def rule_image(tmp_path_factory, registry, base_image) -> dict[str, Any]:
    code, record = package_python_model(
        tmp_path_factory.mktemp("rule"), f"{registry.host}/models/rule", base_image
    )
    assert code == 0
    return record


def test_image_json_names_the_pushed_digest(rule_image, registry):
    record = rule_image
    assert record["repository"].endswith("/models/rule")
    assert record["digest"].startswith("sha256:") and len(record["digest"]) == 71
    assert record["ref"] == f"{record['repository']}@{record['digest']}"
    assert registry.manifest_digest("models/rule", record["tag"]) == record["digest"]
    assert registry.manifest_digest("models/rule", record["digest"]) == record["digest"]
    assert record["model"]["name"] == "rule"
    assert record["model"]["run_id"] == "abc123def"
    assert record["model"]["version"].startswith("sha-")


def test_image_config_labels_user_port_healthcheck(rule_image, docker_client):
    config = docker_client.images.get(rule_image["image_id"]).attrs["Config"]
    labels = config["Labels"]
    for key in REQUIRED_LABELS:
        assert labels[key], key
    assert labels["org.opencontainers.image.revision"] == "0123456789abcdef0123456789abcdef01234567"
    assert labels["org.opencontainers.image.source"] == "https://git.example.org/acme/rule"
    assert labels["dev.lockgate.mlflow.run_id"] == "abc123def"
    assert labels["dev.lockgate.model.version"] == rule_image["model"]["version"]
    assert rule_image["labels"] == {k: v for k, v in labels.items() if k in rule_image["labels"]}
    assert config["User"] == "10001"
    assert "8080/tcp" in config["ExposedPorts"]
    assert "lockgate.serving.probe" in " ".join(config["Healthcheck"]["Test"])


def test_container_runs_as_non_root(rule_image, docker_client):
    out = docker_client.containers.run(rule_image["ref"], entrypoint=["id", "-u"], remove=True)
    assert out.decode().strip() == "10001"


def test_served_model_answers_and_metrics_move(rule_image, docker_client):
    with serving(docker_client, rule_image["ref"]) as (container, port):
        before = parse_exposition(request(port, "GET", "/metrics")[1].decode())
        status, body = request(port, "POST", "/invocations", {"inputs": [[1, 1], [0, 0], [5, 5]]})
        assert (status, json.loads(body)) == (200, {"predictions": ["yes", "no", "yes"]})
        assert request(port, "POST", "/predict", {"inputs": [[0, 0]]})[0] == 200
        assert request(port, "POST", "/invocations", {"inputs": [[1]]})[0] == 400
        after = parse_exposition(request(port, "GET", "/metrics")[1].decode())
        assert ("lockgate_requests_total", (("code", "200"),)) not in before
        assert after[("lockgate_requests_total", (("code", "200"),))] == 2
        assert after[("lockgate_requests_total", (("code", "400"),))] == 1
        assert after[("lockgate_predictions_total", (("label", "yes"),))] == 2
        assert after[("lockgate_predictions_total", (("label", "no"),))] == 2
        assert after[("lockgate_request_duration_seconds_count", ())] == 3
        assert after[("lockgate_request_duration_seconds_bucket", (("le", "+Inf"),))] == 3
        probe = container.exec_run(["python3", "-m", "lockgate.serving.probe"])
        assert probe.exit_code == 0
        container.stop(timeout=10)
        assert container.wait(timeout=15)["StatusCode"] == 0
        assert b"lockgate-serving: stopped" in container.logs()


def test_same_model_gives_the_same_image(rule_image, tmp_path, registry, base_image):
    code, again = package_python_model(tmp_path, f"{registry.host}/models/rule", base_image)
    assert code == 0
    assert again["context_digest"] == rule_image["context_digest"]
    assert again["image_id"] == rule_image["image_id"]
    assert again["digest"] == rule_image["digest"]


@pytest.mark.slow  # pushes a ~1 GB torch layer to a fresh registry (~60 s on 2 cores)
def test_torch_model_end_to_end(tmp_path, registry, torch_image, docker_client):
    import torch

    ctx = stage_context(
        tmp_path,
        {
            "model": "in:train/model",
            "repository": f"{registry.host}/models/tiny",
            "base": torch_image,
            "version": "1.0.0",
        },
    )
    model_dir = torch_train_output(ctx.inputs / "train", ctx.workspace)
    assert main(ctx) == 0
    record = json.loads((ctx.out / "image.json").read_text())
    assert record["model"]["flavor"] == "torch-state-dict"
    assert record["model"]["run_id"] == "0f1e2d3c4b5a"
    assert record["tag"] == "1.0.0"
    assert registry.manifest_digest("models/tiny", "1.0.0") == record["digest"]

    rows = [[1.5, 1.5], [-1.5, -1.5], [1.5, -1.5], [-0.5, 1.0]]
    net = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    net.load_state_dict(torch.load(model_dir / "state_dict.pt", weights_only=True))
    expected = net(torch.tensor(rows)).argmax(-1).tolist()
    assert expected[:2] == [2, 0], "the tiny model should have learnt the rule"
    with serving(docker_client, record["ref"]) as (_, port):
        status, body = request(port, "POST", "/invocations", {"inputs": rows})
        assert status == 200 and json.loads(body) == {"predictions": expected}
        metrics = parse_exposition(request(port, "GET", "/metrics")[1].decode())
        for label in set(expected):
            assert metrics[
                ("lockgate_predictions_total", (("label", str(label)),))
            ] == expected.count(label)
        info = next(k for k in metrics if k[0] == "lockgate_model_info")
        assert dict(info[1])["version"] == "1.0.0"


def test_bad_with_is_one_line(tmp_path):
    from lockgate.errors import LockgateError

    ctx = stage_context(tmp_path, {"model": "in:train/model", "repository": "Reg/Bad:tag"})
    with pytest.raises(LockgateError) as err:
        main(ctx)
    assert "\n" not in str(err.value)
    assert str(err.value).startswith("stage package: with.repository: expected REGISTRY/PATH/NAME")
    shutil.rmtree(tmp_path / "out")


def test_packaged_reference_model_starts_and_answers(
    tmp_path, registry, torch_image, docker_client
):
    """pipelines/tabular-mlp's own entrypoint (which imports ``lockgate.stages.train``) is
    rebuilt inside the serving image: the image must carry that contract, then /ping and
    /invocations answer."""
    import torch

    from lockgate.stages.train.contract import DatasetShape, TrainContext

    reference = Path(__file__).resolve().parents[3] / "pipelines" / "tabular-mlp" / "model.py"
    ctx = stage_context(
        tmp_path,
        {
            "model": "in:train/model",
            "repository": f"{registry.host}/models/tabular-mlp",
            "base": torch_image,
        },
    )
    shutil.copyfile(reference, ctx.workspace / "model.py")
    params = {"hidden": 16, "dropout": 0.0}
    shape = DatasetShape(100, 4, 2, ("a", "b", "c", "d"), "sha256:" + "0" * 64)
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference_model", ctx.workspace / "model.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.build(TrainContext(torch.device("cpu"), "off", 0, params, shape)).model
    model = ctx.inputs / "train" / "model"
    model.mkdir(parents=True)
    torch.save(net.state_dict(), model / "state_dict.pt")
    card = {
        "entrypoint": "model:build",
        "model_class": "Sequential",
        "n_features": 4,
        "n_classes": 2,
        "feature_names": list(shape.feature_names),
        "params": params,
        "seed": 0,
    }
    (model / "model-card.json").write_text(json.dumps(card))
    (ctx.inputs / "train" / "train-run.json").write_text(json.dumps({"mlflow_run_id": "ab12"}))
    assert main(ctx) == 0
    record = json.loads((ctx.out / "image.json").read_text())
    rows = [[0.1, 0.2, 0.3, 0.4], [-1.0, 2.0, 0.5, 0.0]]
    net.eval()
    with torch.inference_mode():
        expected = net(torch.tensor(rows)).argmax(-1).tolist()
    with serving(docker_client, record["ref"]) as (_, port):
        assert request(port, "GET", "/ping")[0] == 200
        status, body = request(port, "POST", "/invocations", {"inputs": rows})
        assert status == 200 and json.loads(body) == {"predictions": expected}
