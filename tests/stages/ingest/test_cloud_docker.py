"""gs:// and az:// ingests through the CLI under the Docker executor: gcsfs and adlfs installed in
the stage image from the spec's requirements, the credentials declared as secrets and mounted as
files, the emulators reached at the container bridge's gateway (inside a container, loopback is
the container's own). One spec per store has a batch stage and a stream stage; it runs twice,
and the stream's second run reads only the object added between them.

While each run goes, every stage container is inspected through the engine's API: its
environment holds no credential and none of the host's Google or Azure settings, which the test
plants in the CLI's environment. After it, every file lockgate wrote and the CLI's output are
grepped for the service account's private key, the access tokens the token endpoint granted,
the account key and the SAS."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge import bridge_gateway
from tests.cloudstores import (
    AZURITE_KEY,
    Azurite,
    GcsEmulator,
    azurite_bin,
    new_private_key,
    pem,
    start_azurite,
    start_gcs,
)
from tests.conftest import unavailable
from tests.engine.test_kms_docker_runs import REQUIREMENTS as NO_STORE_PACKAGE
from tests.engine.test_kms_docker_runs import Watcher
from tests.projects import last_record, states
from tests.stages.ingest.conftest import _need_modules
from tests.stages.ingest.container_stores import (
    Store,
    azure_store,
    check_containers,
    exported_ids,
    exported_manifest,
    gcs_store,
    left_on_host,
    project_bytes,
    run_in_containers,
)


@pytest.fixture(scope="module")
def gateway(docker_client: Any) -> str:
    return bridge_gateway(docker_client)[0]


@pytest.fixture(scope="module")
def bridge_gcs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, gateway: str
) -> Iterator[GcsEmulator]:
    """The GCS emulator and its token endpoint on the bridge's gateway: the service account's
    ``token_uri`` names the address a container sees."""
    _need_modules(request, "ingest-gcs", "gcsfs", "gcp_storage_emulator", "cryptography")
    emulator = start_gcs(tmp_path_factory.mktemp("gcs-bridge") / "emulator.log", host=gateway)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def bridge_azurite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, gateway: str
) -> Iterator[Azurite]:
    _need_modules(request, "ingest-azure", "adlfs", "azure.storage.blob")
    binary = azurite_bin()
    if binary is None:
        unavailable(request.config, "azurite-blob is not installed: run scripts/setup-test-env")
    store = start_azurite(
        str(binary), tmp_path_factory.mktemp("az-bridge") / "azurite.log", host=gateway
    )
    yield store
    store.stop()


@pytest.fixture(params=["gs", "az"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "gs":
        yield from gcs_store(request.getfixturevalue("bridge_gcs"))
    else:
        yield from azure_store(request.getfixturevalue("bridge_azurite"))


@pytest.mark.slow
@pytest.mark.docker
def test_a_batch_and_a_stream_read_in_containers(
    tmp_path: Path, store: Store, base_image: str, docker_client: Any
) -> None:
    started = time.time()
    store.put("events/day=2024-05-01/p.parquet", [1, 2])
    store.put("events/day=2024-05-02/p.parquet", [3])
    root, env = store.project(tmp_path / "project", base_image)
    granted_before = len(store.granted)
    first_watch = Watcher(docker_client, root)
    first = run_in_containers(root, env, first_watch)
    assert first.code == 0, first.stderr[-4000:]
    record = last_record(root)
    assert states(record) == {"full": "ok", "stream": "ok"}
    assert all(s["image_id"].startswith("sha256:") for s in record["stages"])
    assert exported_ids(root, "full") == [1, 2, 3]
    assert (
        exported_manifest(root, "full")["source"]["path"]
        == f"{store.scheme}://{store.bucket}/events"
    )
    assert exported_manifest(root, "stream")["this_run"] == {"batches": 2, "rows": 3}
    check_containers(first_watch, store, {"full", "stream"})

    store.put("events/day=2024-05-03/p.parquet", [4, 5])
    second_watch = Watcher(docker_client, root)
    second = run_in_containers(root, env, second_watch)
    assert second.code == 0, second.stderr[-4000:]
    assert exported_ids(root, "full") == [1, 2, 3, 4, 5]
    stream = exported_manifest(root, "stream")
    assert stream["this_run"] == {"batches": 1, "rows": 2} and stream["rows"] == 5
    assert exported_ids(root, "stream") == [1, 2, 3, 4, 5]
    check_containers(second_watch, store, {"full", "stream"})

    if store.scheme == "gs":  # each stage container was granted its own token
        assert len(store.granted) - granted_before == 4
    logs = (first.stdout + first.stderr + second.stdout + second.stderr).encode()
    written = project_bytes(root) + logs
    for value in [*store.hidden, *store.granted[granted_before:]]:
        assert value.encode() not in written
    # the values unique to this test (Azurite's account key is every Azurite's, and other
    # tests running meanwhile write it too)
    unique = [v for v in [*store.hidden, *store.granted[granted_before:]] if v != AZURITE_KEY]
    assert unique
    assert left_on_host(unique, started) == []


def _wrong_key(store: Store) -> tuple[str, str]:
    """Replace the account key the batch stage reads with: the secret's name, and the words of
    the store's refusal."""
    if store.scheme == "gs":
        account = json.loads(store.secrets["gcs-key"])
        account["private_key"] = pem(new_private_key())
        store.secrets["gcs-key"] = json.dumps(account)
        store.hidden.append(account["private_key"].splitlines()[1])
        return "gcs-key", "the token endpoint refused the key: invalid_grant"
    store.secrets["az-key"] = "A" * 86 + "=="
    store.hidden.append(store.secrets["az-key"])
    return "az-key", "Server failed to authenticate the request"


@pytest.mark.slow
@pytest.mark.docker
def test_a_wrong_key_in_a_container_is_one_clear_line(
    tmp_path: Path, store: Store, base_image: str, docker_client: Any
) -> None:
    """Each stage that reads with the wrong key fails with one line naming the source and the
    secrets to check; Azure's stream stage, reading with its SAS, still succeeds."""
    store.put("events/day=2024-05-01/p.parquet", [1])
    secret, refusal = _wrong_key(store)
    root, env = store.project(tmp_path / "project", base_image)
    granted_before = len(store.granted)
    watcher = Watcher(docker_client, root)
    done = run_in_containers(root, env, watcher)
    assert done.code != 0
    failing = {
        s for s, f in (("full", store.full), ("stream", store.stream)) if secret in f.values()
    }
    expected = {s: "failed" if s in failing else "ok" for s in ("full", "stream")}
    assert states(last_record(root)) == expected, done.stderr[-4000:]
    for stage in failing:
        lines = [line for line in done.stderr.splitlines() if line.startswith(f"{stage} ")]
        assert len(lines) == 1, done.stderr[-4000:]
        assert lines[0].startswith(
            f"{stage} │ lockgate: error: with.source.files.path: "
            f"cannot list {store.scheme}://{store.bucket}/events: "
        )
        assert refusal in lines[0]
        assert (
            "the store refused the credentials: check the secrets named in "
            "with.source.files.credentials (secret" in lines[0]
        )
    assert "Traceback" not in done.stdout + done.stderr
    assert len(store.granted) == granted_before  # no token for a key signed by another
    check_containers(watcher, store, {"full", "stream"})
    written = project_bytes(root) + (done.stdout + done.stderr).encode()
    for value in store.hidden:
        assert value.encode() not in written


@pytest.mark.slow
@pytest.mark.docker
def test_an_image_without_the_stores_package_says_what_to_add(
    tmp_path: Path, store: Store, base_image: str, docker_client: Any
) -> None:
    """The KMS container test's stage image (Polars and pyarrow, no store package): each stage
    names the package the image lacks and where to list it, not a pip command for the host."""
    root, env = store.project(tmp_path / "project", base_image, NO_STORE_PACKAGE)
    done = run_in_containers(root, env, Watcher(docker_client, root))
    assert done.code != 0
    assert states(last_record(root)) == {"full": "failed", "stream": "failed"}
    name, package = {
        "gs": ("Google Cloud Storage", "gcsfs"),
        "az": ("Azure Blob Storage", "adlfs"),
    }[store.scheme]
    for stage in ("full", "stream"):
        assert (
            f"{stage} │ lockgate: error: with.source.files.path: reading {name} needs {package} "
            "in the stage's image: list it in the file image.requirements names (or install it "
            "in image.dockerfile)"
        ) in done.stderr.splitlines(), done.stderr[-4000:]
    assert "Traceback" not in done.stdout + done.stderr
