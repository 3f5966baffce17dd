"""A scripted sequence of promotions and rollbacks against a real MLflow registry (SQLite store,
tiny logged models), then ``history --at`` and ``lineage`` on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.delivery.ledger.entry import format_time
from lockgate.delivery.ledger.identity import Identity
from lockgate.delivery.ledger.lineage import trace
from lockgate.delivery.ledger.timeline import EVERY, Timeline, release_at
from lockgate.delivery.promotion.approve import approve
from lockgate.delivery.promotion.health import record_health
from lockgate.delivery.promotion.refs import ModelRef
from tests.delivery.gatekit import World, digest, image, make_world, write_ledger

pytest.importorskip("mlflow", reason="MLflow is needed for the registry: pip install mlflow")
# MLflow warns that the tiny test model's untyped `context` argument is not validated
pytestmark = pytest.mark.filterwarnings("ignore:.*Any type hint:UserWarning")


def register_versions(uri: str, artifacts: Path, name: str, count: int) -> None:
    import mlflow
    import mlflow.pyfunc

    class Constant(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input: list[str], params=None) -> list[int]:
            return [1] * len(model_input)

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("gates", artifact_location=artifacts.as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    for _ in range(count):
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model", python_model=Constant(), pip_requirements=[]
            )
        mlflow.register_model(info.model_uri, name)


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder}/mlflow.db"
    register_versions(uri, folder / "artifacts", "fraud", 3)
    return uri


@pytest.fixture
def scripted(tmp_path, tracking: str) -> tuple[World, object, dict[str, str]]:
    from lockgate.delivery.promotion.mlflow_registry import MlflowRegistry

    world = make_world(tmp_path)
    registry = MlflowRegistry(tracking)
    sre, lena = Identity("sre", "github"), Identity("lena", "github")
    times: dict[str, str] = {}
    for n in (1, 2, 3):
        p = world.promoter(registry=registry)
        out = p.promote("staging", image(n), model=ModelRef("fraud", str(n)), author="dana")
        assert out.status == "promoted", out.lines
        record_health(
            world.ledger, world.deployer, world.promoter().rules("staging"), sre, mark="healthy"
        )
        approve(world.ledger, p.rules("production"), lena, digest(n))
        assert p.promote("production", image(n)).status == "promoted"
        record_health(
            world.ledger, world.deployer, world.promoter().rules("production"), sre, mark="healthy"
        )
        world.clock.advance(hours=1)
        times[f"after-{n}"] = format_time(world.clock())
        world.clock.advance(hours=1)
    out = world.promoter(registry=registry).rollback("production")
    assert out.status == "rolled-back", out.lines
    world.clock.advance(hours=1)
    times["after-rollback"] = format_time(world.clock())
    return world, registry, times


def test_promotion_moves_the_alias_and_rollback_moves_it_back(scripted) -> None:
    _, registry, _ = scripted
    assert registry.get_alias("fraud", "champion") == "2"
    assert registry.get_alias("fraud", "staging") == "3"
    record = registry.describe("fraud", "2")
    assert record.tags["lockgate.image_digest"] == digest(2)
    assert "lockgate.production" in record.tags


def test_history_at_answers_what_ran_when(scripted) -> None:
    world, _, times = scripted
    folder = world.ledger.folder
    assert release_at(folder, "production", "2026-11-20T08:00:00.000000Z")[0] is None
    for n in (1, 2, 3):
        release, _ = release_at(folder, "production", times[f"after-{n}"])
        assert release["digest"] == digest(n) and release["model"] == f"models:/fraud/{n}"
        assert release["healthy"] is True
    release, _ = release_at(folder, "production", times["after-rollback"])
    assert (release["digest"], release["action"]) == (digest(2), "rollback")


def test_history_at_uses_and_repairs_its_checkpoints(tmp_path) -> None:
    world = make_world(tmp_path)
    from lockgate.delivery.ledger.entry import Draft

    stamps, rows = [], []
    for i in range(1, 2 * EVERY + 50):
        action = "promote" if i % 7 == 0 else "approve"
        rows.append(
            (
                Draft(
                    action=action,
                    actor="a",
                    actor_source="t",
                    environment="staging",
                    digest=digest(i),
                    image=image(i),
                ),
                format_time(world.clock()),
            )
        )
        if action == "promote":
            stamps.append((format_time(world.clock()), digest(i)))
        world.clock.advance(seconds=1)
    write_ledger(world.ledger.folder, rows)
    timeline = Timeline(world.ledger.folder)
    assert len(timeline.checkpoints()) == 2
    for at, expected in stamps[::37]:
        assert release_at(world.ledger.folder, "staging", at)[0]["digest"] == expected
    (world.ledger.folder / "ledger.index").write_text('{"garbage": 1}\n')
    at, expected = stamps[-1]
    assert release_at(world.ledger.folder, "staging", at)[0]["digest"] == expected


def test_lineage_of_an_image_links_ledger_registry_and_attestation(scripted) -> None:
    world, registry, _ = scripted
    world.verifier.facts[digest(2)] = {"model": "models:/fraud/2"}
    (found,) = trace(image(2), world.ledger.entries(), world.verifier, registry)
    assert found.model == "models:/fraud/2" and found.run_id
    assert not found.broken, found.links
    assert {"production", "staging"} <= {e["environment"] for e in found.events}
    statuses = {(x.target, x.status) for x in found.links}
    assert (f"run {found.run_id}", "ok") in statuses


def test_lineage_reports_a_contradicting_attestation(scripted) -> None:
    world, registry, _ = scripted
    world.verifier.facts[digest(2)] = {"model": "models:/fraud/3"}
    (found,) = trace(image(2), world.ledger.entries(), world.verifier, registry)
    assert [x.detail for x in found.broken] == [
        "the ledger records models:/fraud/2, the image's attestation names models:/fraud/3"
    ]


def test_lineage_of_a_model_version_finds_its_images(scripted) -> None:
    world, registry, _ = scripted
    found = trace("models:/fraud/3", world.ledger.entries(), None, registry)
    assert [x.digest for x in found] == [digest(3)]
    missing = trace("models:/fraud/9", world.ledger.entries(), None, registry)
    assert missing[0].broken[0].detail == "no release of this model version is in the ledger"


def test_lineage_links_the_run_to_its_dataset_digest(scripted) -> None:
    """train tags its run with the dataset digest (an ingest manifest's), evaluate copies it onto
    the model version; lineage shows it as the run's data."""
    from mlflow import MlflowClient

    world, registry, _ = scripted
    data = "sha256:" + "ab" * 32
    MlflowClient(registry.tracking_uri).set_model_version_tag(
        "fraud", "1", "lockgate.data_digest", data
    )
    (found,) = trace(image(1), world.ledger.entries(), world.verifier, registry)
    assert (f"run {found.run_id}", f"data {data}", "ok") in {
        (x.source, x.target, x.status) for x in found.links
    }
