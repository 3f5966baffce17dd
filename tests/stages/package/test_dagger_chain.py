"""The package build as a Dagger chain, checked op by op from the SDK's lazy query (no engine:
``dagger.Client()`` without a connection builds queries but never runs them)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lockgate.stages.package.buildcontext import stage_context
from lockgate.stages.package.dagger_chain import DaggerPackage, package_to_dagger
from tests.serving.bundles import python_bundle

dagger = pytest.importorskip("dagger", reason="dagger-io is not installed (lockgate[dagger])")

LABELS = {
    "org.opencontainers.image.revision": "c0ffee",
    "org.opencontainers.image.source": "https://git.example.org/acme/rule",
    "dev.lockgate.model.name": "rule",
    "dev.lockgate.model.version": "4",
    "dev.lockgate.mlflow.run_id": "run-9",
}


def ops(obj: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(f.type_name, f.name, f.args) for f in obj._ctx.selections]


@pytest.fixture
def context_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "context"
    stage_context(folder, python_bundle(tmp_path / "bundle"), "lockgate/debian:bookworm", 8080)
    return folder


def test_chain_builds_labels_annotates_and_publishes(context_dir: Path) -> None:
    pkg = package_to_dagger(
        dagger.Client(), context_dir, "127.0.0.1:5000/models/rule", tag="4", labels=LABELS
    )
    selections = ops(pkg.container)
    assert selections[:3] == [
        ("Query", "host", {}),
        ("Host", "directory", {"path": str(context_dir)}),
        ("Directory", "dockerBuild", {}),
    ]
    labels = [(a["name"], a["value"]) for _, name, a in selections if name == "withLabel"]
    assert labels == sorted(LABELS.items())
    annotations = [(a["name"], a["value"]) for _, name, a in selections if name == "withAnnotation"]
    assert annotations == sorted(
        (k, v) for k, v in LABELS.items() if k.startswith("org.opencontainers.")
    )
    assert [name for _, name, _ in selections[3:]] == ["withLabel"] * 5 + ["withAnnotation"] * 2
    assert pkg.address == "127.0.0.1:5000/models/rule:4"
    assert (context_dir / "Dockerfile").read_text().startswith("FROM lockgate/debian:bookworm\n")


def test_registry_auth_takes_a_secret_object_not_a_value(context_dir: Path, tmp_path: Path) -> None:
    dag = dagger.Client()
    secret_file = tmp_path / "registry_password"
    secret_file.write_text("never-in-the-query")
    password = dag.secret(f"file://{secret_file}")
    pkg = package_to_dagger(
        dag,
        context_dir,
        "reg.example.org/models/rule",
        tag="4",
        labels={},
        username="bot",
        password=password,
    )
    last = ops(pkg.container)[-1]
    assert last[:2] == ("Container", "withRegistryAuth")
    assert last[2]["address"] == "reg.example.org" and last[2]["username"] == "bot"
    assert isinstance(last[2]["secret"], dagger.Secret)
    assert "never-in-the-query" not in repr(ops(pkg.container))


def test_publish_is_lazy_until_awaited(context_dir: Path) -> None:
    pkg = package_to_dagger(dagger.Client(), context_dir, "r.example/m", tag="1", labels={})
    assert isinstance(pkg, DaggerPackage)
    pending = pkg.publish()
    assert asyncio.iscoroutine(pending)
    pending.close()  # never awaited: no engine is contacted
