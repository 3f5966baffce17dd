"""Every generated file passes the real validators: check-jsonschema with its vendored schemas
(GitHub workflows and actions, GitLab CI) and actionlint."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from generator_examples import EXAMPLE_NAMES, REPO, example_repo, tool

from lockgate.generator.model import build_model
from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load
from lockgate.spec.loader import load_spec


def _write_all(root: Path, **options: object) -> list[Path]:
    files = render_files(provider="all", spec=root / "lockgate.yaml", root=root, **options)
    paths = []
    for rendered in files:
        path = root / rendered.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered.text, encoding="utf-8")
        paths.append(path)
    return paths


def _check_schema(schema: str, *paths: Path) -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _actionlint(root: Path, workflow: Path) -> None:
    ci = build_model(load_spec(root / "lockgate.yaml"))
    labels = sorted({x for s in ci.stages for x in (*s.labels, s.scale_set or "") if x})
    config = root / "actionlint.yaml"
    config.write_text(
        "self-hosted-runner:\n  labels: [" + ", ".join(labels) + "]\n", encoding="utf-8"
    )
    done = subprocess.run(
        [tool("actionlint"), "-config-file", str(config), "-no-color", str(workflow)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("no_image", [False, True], ids=["image", "shell"])
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_generated_files_pass_schemas_and_actionlint(
    tmp_path: Path, example: str, no_image: bool
) -> None:
    root = example_repo(tmp_path, example)
    _write_all(root, build_image=not no_image)
    workflow = root / ".github/workflows/lockgate.yml"
    _check_schema("vendor.github-workflows", workflow)
    _check_schema("vendor.gitlab-ci", root / ".gitlab-ci.yml")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    _actionlint(root, workflow)


def test_setup_scripts_are_valid_bash(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "gated")
    scripts = [p for p in _write_all(root) if p.suffix == ".sh"]
    assert len(scripts) == 2
    for script in scripts:
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "action", sorted(p.parent.name for p in (REPO / "actions").glob("*/action.yml"))
)
def test_action_set_passes_schema(action: str) -> None:
    _check_schema("vendor.github-actions", REPO / "actions" / action / "action.yml")


def test_workflow_using_the_local_action_set_passes_actionlint(tmp_path: Path) -> None:
    """Generated with ``--actions ./``: actionlint reads ./actions/*/action.yml and checks each
    ``with:`` against the action's declared inputs."""
    root = example_repo(tmp_path, "gated")
    shutil.copytree(REPO / "actions", root / "actions")
    _write_all(root, actions="./")
    workflow = root / ".github/workflows/lockgate.yml"
    assert "uses: ./actions/stage" in workflow.read_text(encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    _check_schema("vendor.github-workflows", workflow)
    _actionlint(root, workflow)


def test_gitlab_template_and_component_pass_schema(tmp_path: Path) -> None:
    _check_schema("vendor.gitlab-ci", REPO / "gitlab-templates/lockgate.yml")
    text = (REPO / "templates/lockgate/template.yml").read_text(encoding="utf-8")
    header, body = text.split("\n---\n")
    spec = load(header)["spec"]
    for name, field in spec["inputs"].items():  # typed inputs with defaults
        assert field["type"] == "string" and "default" in field, name
    (tmp_path / "component.yml").write_text(body, encoding="utf-8")
    _check_schema("vendor.gitlab-ci", tmp_path / "component.yml")
    jobs = load(body)
    assert all(name.startswith(".lockgate-") for name in jobs), "no global keywords"
    used = set(re.findall(r"\$\[\[ inputs\.([a-z-]+) \]\]", body))
    assert used == set(spec["inputs"])


def test_generated_pipeline_including_the_component_passes_schema(tmp_path: Path) -> None:
    root = example_repo(tmp_path, "gated")
    ref = "gitlab.example.com/ml/lockgate/lockgate@0.1.0"
    (rendered, *_) = render_files(provider="gitlab", spec=None, root=root, component=ref)
    doc = load(rendered.text)
    assert doc["include"] == [
        {
            "component": ref,
            "inputs": {
                "spec": "lockgate.yaml",
                "image-name": "registry.example.com/ml/churn-runner",
                # the public images by name, so a pin in the spec reaches the component
                "builder-image": "python:3.11-slim-bookworm",
                "dind-image": "docker:27-dind",
            },
        }
    ]
    assert not any(name.startswith(".") for name in doc), "hidden jobs come from the component"
    (root / ".gitlab-ci.yml").write_text(rendered.text, encoding="utf-8")
    _check_schema("vendor.gitlab-ci", root / ".gitlab-ci.yml")


def test_every_action_reference_is_pinned_from_the_one_table(tmp_path: Path) -> None:
    import re

    from lockgate.generator.pins import ACTION_PINS

    root = example_repo(tmp_path, "gated")
    texts = [p.read_text(encoding="utf-8") for p in _write_all(root) if p.suffix == ".yml"]
    texts += [p.read_text(encoding="utf-8") for p in (REPO / "actions").glob("*/action.yml")]
    refs = [m for t in texts for m in re.findall(r"uses: ([^\s]+)(  # \S+)?", t)]
    assert refs
    for ref, comment in refs:
        if ref.startswith("./"):
            continue
        action, _, sha = ref.partition("@")
        pin = ACTION_PINS[action]
        assert sha == pin.sha and comment == f"  # {pin.version}", ref


def _component_input_schema() -> dict:
    """The shipped component's ``spec: inputs`` as JSON Schema, the way GitLab reads them: an
    input without ``default`` is required, an input the component does not declare is an error,
    ``type``, ``options`` and ``regex`` constrain the value."""
    text = (REPO / "templates/lockgate/template.yml").read_text(encoding="utf-8")
    inputs = load(text.split("\n---\n")[0])["spec"]["inputs"]
    kinds = {"string": "string", "number": "number", "boolean": "boolean", "array": "array"}
    properties = {}
    for name, field in inputs.items():
        rule: dict = {"type": kinds[field.get("type", "string")]}
        if "options" in field:
            rule["enum"] = list(field["options"])
        if "regex" in field:
            rule["pattern"] = field["regex"]
        properties[name] = rule
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "required": sorted(n for n, f in inputs.items() if "default" not in f),
        "additionalProperties": False,
    }


@pytest.mark.parametrize("no_image", [False, True], ids=["image", "shell"])
def test_every_pipeline_gives_the_component_inputs_its_schema_accepts(
    tmp_path: Path, no_image: bool
) -> None:
    """Each example and reference pipeline, generated with ``--component``: the inputs of its
    ``include: component:`` pass check-jsonschema against the component's own input schema."""
    import json

    schema = tmp_path / "component-inputs.schema.json"
    schema.write_text(json.dumps(_component_input_schema()), encoding="utf-8")
    ref = "gitlab.example.com/ml/lockgate/lockgate@0.1.0"
    instances = []
    for example in EXAMPLE_NAMES:
        root = example_repo(tmp_path, example)
        (rendered, *_) = render_files(
            provider="gitlab", spec=None, root=root, component=ref, build_image=not no_image
        )
        (include,) = load(rendered.text)["include"]
        assert include["component"] == ref
        path = tmp_path / f"{example}.inputs.json"
        path.write_text(json.dumps(dict(include["inputs"])), encoding="utf-8")
        instances.append(path)
    done = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(schema), *map(str, instances)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wrong = tmp_path / "wrong.inputs.json"  # the schema does refuse: an undeclared input
    wrong.write_text(json.dumps({"spec": "lockgate.yaml", "image": "x"}), encoding="utf-8")
    done = subprocess.run(
        [tool("check-jsonschema"), "--schemafile", str(schema), str(wrong)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "image" in done.stdout + done.stderr
