"""az:// ingests under the Docker executor as service principals, over HTTPS: Azurite (taking
bearer tokens) and the stand-in Entra ID token endpoint (tests/entra_id.py) listen on the
container bridge's gateway with certificates for that address from a test CA that only the
project's ``ca_file`` names. The batch stage logs in with a client secret, the stream stage with
the app's certificate or a federated token; each stage container asks for its own token.

Each stage container is inspected while it runs: its environment holds no credential, token,
``AZURE_*`` or CA-bundle variable (the test plants them in the CLI's environment). Afterwards
the project, the CLI's output, the temporary folder and /dev/shm are searched for the client
secret, the certificate's private key, the federated token and every token the endpoint
granted.

What is stubbed: Entra ID (no tenant can be reached), as in test_read_azure_principal.py."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azure_https import AzureHttps, start_azure_https
from tests.bridge import bridge_gateway
from tests.cloudstores import azurite_bin
from tests.conftest import unavailable
from tests.engine.test_kms_docker_runs import Watcher
from tests.engine.tls_ca import make_tls
from tests.projects import last_record, states
from tests.stages.ingest.conftest import _need_modules
from tests.stages.ingest.container_stores import (
    CA_SETTINGS,
    Store,
    azure_principal_store,
    check_containers,
    exported_ids,
    exported_manifest,
    left_on_host,
    project_bytes,
    run_in_containers,
)


@pytest.fixture(scope="module")
def bridge_azure(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[AzureHttps]:
    _need_modules(request, "ingest-azure", "adlfs", "azure.storage.blob", "azure.identity")
    binary = azurite_bin()
    if binary is None:
        unavailable(request.config, "azurite-blob is not installed: run scripts/setup-test-env")
    gateway, _ = bridge_gateway(docker_client)
    servers = start_azure_https(str(binary), tmp_path_factory.mktemp("az-principal"), gateway)
    yield servers
    servers.stop()


@pytest.fixture(params=["certificate", "federated"])
def store(request: pytest.FixtureRequest, bridge_azure: AzureHttps) -> Iterator[Store]:
    """The stream stage's login: the app's certificate, or a federated token."""
    yield from azure_principal_store(bridge_azure, request.param)


@pytest.fixture()
def certificate_store(bridge_azure: AzureHttps) -> Iterator[Store]:
    yield from azure_principal_store(bridge_azure, "certificate")


def _host_ca_settings(folder: Path, ca: Path) -> dict[str, str]:
    """The host's CA variables, each naming a bundle of the system's CAs and the test CA: were
    one to reach a stage, the stage would trust more than its ca_file (pip on the host, which
    may fetch the image's wheels, still finds the index's CA in it)."""
    system = os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile or ""
    bundle = folder / "host-ca-bundle.pem"
    folder.mkdir(parents=True, exist_ok=True)
    bundle.write_text((Path(system).read_text() if system else "") + ca.read_text())
    return dict.fromkeys(CA_SETTINGS, str(bundle))


def _no_leak(store: Store, written: bytes, granted_before: int, started: float) -> None:
    issued = store.granted[granted_before:]
    for value in [*store.hidden, *issued]:
        assert value.encode() not in written
    assert left_on_host([*store.hidden, *issued], started) == []


@pytest.mark.slow
@pytest.mark.docker
def test_service_principals_read_over_https_in_containers(
    tmp_path: Path, store: Store, bridge_azure: AzureHttps, base_image: str, docker_client: Any
) -> None:
    started = time.time()
    store.put("events/day=2024-05-01/p.parquet", [1, 2])
    store.put("events/day=2024-05-02/p.parquet", [3])
    root, env = store.project(tmp_path / "project", base_image)
    env |= _host_ca_settings(tmp_path / "host", bridge_azure.ca)
    granted_before = len(store.granted)
    watch = Watcher(docker_client, root)
    first = run_in_containers(root, env, watch)
    assert first.code == 0, first.stderr[-4000:]
    assert states(last_record(root)) == {"full": "ok", "stream": "ok"}
    assert exported_ids(root, "full") == [1, 2, 3]
    assert exported_manifest(root, "stream")["this_run"] == {"batches": 2, "rows": 3}
    check_containers(watch, store, {"full", "stream"})
    assert len(store.granted) - granted_before == 2  # one token for each stage's container

    store.put("events/day=2024-05-03/p.parquet", [4, 5])
    watch = Watcher(docker_client, root)
    second = run_in_containers(root, env, watch)
    assert second.code == 0, second.stderr[-4000:]
    assert exported_ids(root, "full") == [1, 2, 3, 4, 5]
    stream = exported_manifest(root, "stream")
    assert stream["this_run"] == {"batches": 1, "rows": 2} and stream["rows"] == 5
    check_containers(watch, store, {"full", "stream"})
    assert len(store.granted) - granted_before == 4
    for container in watch.seen.values():
        assert not [v for v in container["env"] if v.split("=", 1)[1] in env.values()]

    logs = (first.stdout + first.stderr + second.stdout + second.stderr).encode()
    _no_leak(store, project_bytes(root) + logs, granted_before, started)


@pytest.mark.slow
@pytest.mark.docker
def test_a_wrong_secret_and_another_ca_in_containers_are_one_line_each(
    tmp_path: Path,
    certificate_store: Store,
    bridge_azure: AzureHttps,
    base_image: str,
    docker_client: Any,
) -> None:
    """The batch stage sends a wrong client secret (the endpoint refuses it); the stream
    stage's ca_file holds another CA, so its TLS handshake with the login host fails and
    nothing reaches the endpoint: the certificate's assertion is never sent."""
    store = certificate_store
    started = time.time()
    store.put("events/day=2024-05-01/p.parquet", [1])
    wrong = "Qk9~" + os.urandom(16).hex()
    store.secrets["az-secret"] = wrong
    store.hidden.append(wrong)
    gateway = bridge_azure.store.endpoint.split("//")[1].split(":")[0]
    store.cas["stream"] = make_tls(tmp_path / "stranger", gateway).ca.read_text()
    root, env = store.project(tmp_path / "project", base_image)
    login = bridge_azure.login
    granted_before, refused_before = len(login.granted), len(login.refused)
    watch = Watcher(docker_client, root)
    done = run_in_containers(root, env, watch)
    assert done.code != 0
    assert states(last_record(root)) == {"full": "failed", "stream": "failed"}, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = {
        stage: [line for line in done.stderr.splitlines() if line.startswith(f"{stage} ")]
        for stage in ("full", "stream")
    }
    assert all(len(found) == 1 for found in lines.values()), done.stderr[-4000:]
    prefix = " │ lockgate: error: with.source.files.path: cannot list az://"
    assert lines["full"][0].startswith("full" + prefix), lines
    assert "Microsoft Entra ID at *** refused client *** of tenant ***" in lines["full"][0]
    assert "AADSTS7000215: Invalid client secret provided." in lines["full"][0]
    assert lines["stream"][0].startswith("stream" + prefix), lines
    assert "cannot connect to the login host *** for a token" in lines["stream"][0]
    assert "certificate verify failed" in lines["stream"][0]
    assert "with.source.files.ca_file" in lines["stream"][0]
    # the wrong secret was refused once; the stream stage's request never reached the endpoint
    assert login.refused[refused_before:] == ["AADSTS7000215"]
    assert len(login.granted) == granted_before
    check_containers(watch, store, {"full", "stream"})
    _no_leak(store, project_bytes(root) + (done.stdout + done.stderr).encode(), 0, started)
