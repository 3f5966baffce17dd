"""Model sources and the build context, without an engine."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from lockgate.errors import LockgateError
from lockgate.serving.manifest import ServingManifest
from lockgate.serving.model import load_predictor
from lockgate.stages.package.buildcontext import FIXED_MTIME, context_tar, stage_context
from lockgate.stages.package.sources import TrainOutputSource
from tests.serving.bundles import LINEAR_CODE, python_train_output


def source(tmp_path, **kw):
    ws = tmp_path / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "linear_rule.py").write_text(LINEAR_CODE)
    (ws / "unrelated.py").write_text("x = 1\n")
    model = python_train_output(tmp_path / "train")
    return TrainOutputSource(model, ws, "rule", label="in:train/model", **kw)


def test_train_output_becomes_a_loadable_bundle(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    packaged = source(tmp_path).fetch(bundle)
    assert packaged.run_id == "abc123def" and packaged.flavor == "python"
    assert sorted(p.name for p in (bundle / "code").iterdir()) == ["linear_rule.py"]
    manifest = ServingManifest.read(bundle)
    assert manifest.version == packaged.version and packaged.version.startswith("sha-")
    assert load_predictor(bundle).predict([[1, 1], [0, 0]]) == ["yes", "no"]


def test_content_version_follows_the_model_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    first = source(tmp_path / "one").fetch(a)
    second = source(tmp_path / "two").fetch(b)
    assert first.version == second.version and first.digest == second.digest
    changed = source(tmp_path / "three")
    (changed.model_dir / "weights.json").write_text('{"w": [2, 2], "b": 1}')
    c = tmp_path / "c"
    c.mkdir()
    assert changed.fetch(c).version != first.version


def test_missing_card_names_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    src = TrainOutputSource(tmp_path / "empty", tmp_path, "m", label="in:train/model")
    with pytest.raises(
        LockgateError, match=r"^with.model in:train/model: no model-card.json there"
    ):
        src.fetch(tmp_path / "bundle")


def test_context_tar_is_deterministic(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    source(tmp_path, version="1").fetch(bundle)
    digests = []
    for name in ("x", "y"):
        folder = tmp_path / name
        stage_context(folder, bundle, "base:1", 8080)
        data, digest = context_tar(folder)
        digests.append(digest)
    assert digests[0] == digests[1]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert {m.mtime for m in members} == {FIXED_MTIME} and {m.uid for m in members} == {0}
    assert "Dockerfile" in names and "model/serving.json" in names
    assert "lockgate/serving/server.py" in names
    assert not any("__pycache__" in n for n in names)
    # of the rest of lockgate, only the train contract a model's entrypoint imports
    assert [n for n in names if n.startswith("lockgate/stages/") and n.endswith(".py")] == [
        "lockgate/stages/__init__.py",
        "lockgate/stages/train/__init__.py",
        "lockgate/stages/train/contract.py",
    ]
    dockerfile = (tmp_path / "x" / "Dockerfile").read_text()
    assert "USER 10001" in dockerfile and "EXPOSE 8080" in dockerfile
    assert json.loads(dockerfile.split("CMD ", 2)[1].splitlines()[0])[:3] == [
        "python3",
        "-m",
        "lockgate.serving.probe",
    ]


def test_symlinks_out_of_the_model_or_workspace_are_refused(tmp_path):
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("do not ship me\n")
    src = source(tmp_path / "model-link")
    (src.model_dir / "extra.bin").symlink_to(outside)
    with pytest.raises(
        LockgateError, match=r"extra\.bin is a symbolic link to .*outside-secret\.txt, outside"
    ):
        src.fetch(tmp_path / "b1")
    src = source(tmp_path / "code-link")
    (src.workspace / "linear_rule.py").unlink()
    (src.workspace / "linear_rule.py").symlink_to(outside)
    with pytest.raises(LockgateError, match=r"^with\.code: .*linear_rule\.py is a symbolic link"):
        src.fetch(tmp_path / "b2")


def test_a_symlink_that_stays_inside_is_copied(tmp_path):
    src = source(tmp_path)
    (src.model_dir / "weights-copy.json").symlink_to(src.model_dir / "weights.json")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    src.fetch(bundle)
    copied = bundle / "weights-copy.json"
    assert not copied.is_symlink()
    assert copied.read_text() == (src.model_dir / "weights.json").read_text()
