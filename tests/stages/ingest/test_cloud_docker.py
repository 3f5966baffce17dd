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

import io
import json
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cloudstores import (
    AZURITE_ACCOUNT,
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
from tests.projects import CliResult, last_record, lockgate, states, write_project
from tests.stages.ingest.test_s3_pipeline import IMAGE_REQUIREMENTS as REQUIREMENTS

SPEC = """\
version: 1
name: cloud-ctr
image: {{base: {base}, requirements: requirements.txt}}
secrets:
{secrets}
stages:
  full:
    uses: lockgate/ingest
    secrets: [{full_secrets}]
    with:
      source: {{files: {{path: '{url}/events', credentials: {full}}}}}
  stream:
    uses: lockgate/ingest
    secrets: [{stream_secrets}]
    with:
      source: {{files: {{path: '{url}/events', credentials: {stream}}}}}
      mode: stream
"""
# the host's own settings: none may reach a stage container
AMBIENT = {
    "GOOGLE_APPLICATION_CREDENTIALS": "/ambient/adc.json",
    "GOOGLE_CLOUD_PROJECT": "ambient-project",
    "CLOUDSDK_CONFIG": "/ambient/gcloud",
    "GCE_METADATA_HOST": "169.254.169.254",
    "STORAGE_EMULATOR_HOST": "http://ambient-emulator:9023",
    "AZURE_STORAGE_ACCOUNT_KEY": "YW1iaWVudC1hY2NvdW50LWtleQ==",
    "AZURE_STORAGE_SAS_TOKEN": "sv=2020&sig=ambient-sas",
    "AZURE_CLIENT_SECRET": "ambient-client-secret",
}
_HOST_SETTINGS = re.compile(r"^(GOOGLE_|GCE_|CLOUDSDK_|STORAGE_EMULATOR_HOST|GCSFS_|AZURE_)")


@dataclass
class Store:
    """One bucket or container, the secrets a spec declares for it and what must stay hidden."""

    scheme: str
    bucket: str
    fs: Any
    secrets: dict[str, str]  # secret name -> value
    full: dict[str, str]  # the batch stage's credential fields -> secret names
    stream: dict[str, str]  # the stream stage's
    hidden: list[str]  # values that must appear in no file, log or container environment
    granted: list[str]  # access tokens granted so far (GCS), hidden as well

    def put(self, key: str, ids: list[int]) -> None:
        import polars as pl

        buf = io.BytesIO()
        pl.DataFrame({"id": ids}).write_parquet(buf)
        self.fs.pipe(f"{self.bucket}/{key}", buf.getvalue())

    def project(
        self, root: Path, base_image: str, requirements: str = REQUIREMENTS
    ) -> tuple[Path, dict[str, str]]:
        """The project folder and the CLI's environment (the secrets' values, and the host
        settings that must not reach a stage)."""
        env_names = {name: "LG_" + name.upper().replace("-", "_") for name in self.secrets}

        def names(fields: dict[str, str]) -> str:
            return ", ".join(sorted(set(fields.values())))

        spec = SPEC.format(
            base=base_image,
            secrets="\n".join(f"  {n}: {{env: {e}}}" for n, e in env_names.items()),
            url=f"{self.scheme}://{self.bucket}",
            full=json.dumps(self.full),
            stream=json.dumps(self.stream),
            full_secrets=names(self.full),
            stream_secrets=names(self.stream),
        )
        root = write_project(root, spec, {"requirements.txt": requirements})
        env = {e: self.secrets[n] for n, e in env_names.items()}
        return root, env | AMBIENT | self.ambient()

    def ambient(self) -> dict[str, str]:
        if self.scheme == "gs":
            return {}
        # a connection string that would read the container, were it to reach the stage
        endpoint = self.secrets["az-endpoint"]
        return {
            "AZURE_STORAGE_CONNECTION_STRING": f"DefaultEndpointsProtocol=http;AccountName="
            f"{AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={endpoint};"
        }


@pytest.fixture(scope="module")
def gateway(docker_client: Any) -> str:
    return str(docker_client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"])


def _need(request: pytest.FixtureRequest, extra: str, *modules: str) -> None:
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            unavailable(
                request.config,
                f"{module} is missing: pip install -e '.[{extra}]' -r requirements/test.txt",
            )


@pytest.fixture(scope="module")
def bridge_gcs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, gateway: str
) -> Iterator[GcsEmulator]:
    """The GCS emulator and its token endpoint on the bridge's gateway: the service account's
    ``token_uri`` names the address a container sees."""
    _need(request, "ingest-gcs", "gcsfs", "gcp_storage_emulator", "cryptography")
    emulator = start_gcs(tmp_path_factory.mktemp("gcs-bridge") / "emulator.log", host=gateway)
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def bridge_azurite(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, gateway: str
) -> Iterator[Azurite]:
    _need(request, "ingest-azure", "adlfs", "azure.storage.blob")
    binary = azurite_bin()
    if binary is None:
        unavailable(request.config, "azurite-blob is not installed: run scripts/setup-test-env")
    store = start_azurite(
        str(binary), tmp_path_factory.mktemp("az-bridge") / "azurite.log", host=gateway
    )
    yield store
    store.stop()


def _gcs_store(emulator: GcsEmulator) -> Iterator[Store]:
    fs = emulator.filesystem()
    bucket = f"ctr-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    account = emulator.tokens.service_account(f"reader-{bucket}@lake-project.iam")
    fields = {"service_account_json": "gcs-key", "endpoint_url": "gcs-endpoint"}
    yield Store(
        "gs",
        bucket,
        fs,
        {"gcs-key": json.dumps(account), "gcs-endpoint": emulator.endpoint},
        fields,
        fields,
        [account["private_key"], account["private_key"].splitlines()[1]],
        emulator.tokens.granted,
    )
    fs.rm(bucket, recursive=True)


def _azure_store(azurite: Azurite) -> Iterator[Store]:
    fs = azurite.filesystem()
    container = f"ctr-{uuid.uuid4().hex[:10]}"
    fs.mkdir(container)
    sas = azurite.container_sas(container)
    yield Store(
        "az",
        container,
        fs,
        {
            "az-name": AZURITE_ACCOUNT,
            "az-key": AZURITE_KEY,
            "az-sas": sas,
            "az-endpoint": azurite.endpoint,
        },
        {"account_name": "az-name", "account_key": "az-key", "endpoint_url": "az-endpoint"},
        {"sas_token": "az-sas", "endpoint_url": "az-endpoint"},
        [AZURITE_KEY, sas.split("sig=")[1].split("&")[0]],
        [],
    )
    fs.rm(container, recursive=True)


@pytest.fixture(params=["gs", "az"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "gs":
        yield from _gcs_store(request.getfixturevalue("bridge_gcs"))
    else:
        yield from _azure_store(request.getfixturevalue("bridge_azurite"))


def _run(root: Path, env: dict[str, str], watcher: Watcher) -> CliResult:
    with watcher:
        return lockgate(
            "run", "--executor", "docker", "--export-dir", "export", cwd=root, env=env, timeout=900
        )


def _manifest(root: Path, stage: str) -> dict[str, Any]:
    return dict(json.loads((root / "export" / stage / "manifest.json").read_text()))


def _ids(root: Path, stage: str) -> list[int]:
    import polars as pl

    return sorted(pl.read_parquet(root / "export" / stage / "data" / "*.parquet")["id"].to_list())


def _written(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def _left_on_host(values: list[str], since: float) -> list[Path]:
    """Files written since ``since`` in ``/dev/shm`` (where the secrets lent to a container are
    kept while it runs) and the host's temporary folder that hold any of ``values``. Test
    sessions' own folders (``pytest-of-*``) are left out: this test greps its project itself,
    and the others belong to other tests."""
    temp = Path(tempfile.gettempdir())
    roots = [Path("/dev/shm"), *(p for p in temp.iterdir() if not p.name.startswith("pytest-of-"))]
    found = []
    for root in roots:
        for path in [root, *root.rglob("*")] if root.is_dir() else [root]:
            try:
                if not path.is_file() or path.is_symlink() or path.stat().st_mtime < since:
                    continue
                data = path.read_bytes() if path.stat().st_size < 64 << 20 else b""
            except OSError:  # another process's file, gone or unreadable
                continue
            if any(v.encode() in data for v in values):
                found.append(path)
    return found


def _check_containers(watcher: Watcher, store: Store, stages: set[str]) -> None:
    """Each stage container got only the secrets its stage declares, as files, and an
    environment without a credential or a host cloud setting."""
    seen = list(watcher.seen.values())
    assert {c["stage"] for c in seen} == stages
    for container in seen:
        env = "\n".join(container["env"])
        assert not [v for v in container["env"] if _HOST_SETTINGS.match(v)], env
        for value in [*store.secrets.values(), *store.granted, *AMBIENT.values()]:
            if store.scheme == "az" and value == AZURITE_ACCOUNT:
                continue  # a name, not a credential
            assert value not in env
        fields = store.full if container["stage"] == "full" else store.stream
        assert container["secrets_read"]
        assert set(container["secret_files"]) == set(fields.values())
        for field, name in fields.items():
            assert container["secret_files"][name].decode().strip() == store.secrets[name], field


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
    first = _run(root, env, first_watch)
    assert first.code == 0, first.stderr[-4000:]
    record = last_record(root)
    assert states(record) == {"full": "ok", "stream": "ok"}
    assert all(s["image_id"].startswith("sha256:") for s in record["stages"])
    assert _ids(root, "full") == [1, 2, 3]
    assert _manifest(root, "full")["source"]["path"] == f"{store.scheme}://{store.bucket}/events"
    assert _manifest(root, "stream")["this_run"] == {"batches": 2, "rows": 3}
    _check_containers(first_watch, store, {"full", "stream"})

    store.put("events/day=2024-05-03/p.parquet", [4, 5])
    second_watch = Watcher(docker_client, root)
    second = _run(root, env, second_watch)
    assert second.code == 0, second.stderr[-4000:]
    assert _ids(root, "full") == [1, 2, 3, 4, 5]
    stream = _manifest(root, "stream")
    assert stream["this_run"] == {"batches": 1, "rows": 2} and stream["rows"] == 5
    assert _ids(root, "stream") == [1, 2, 3, 4, 5]
    _check_containers(second_watch, store, {"full", "stream"})

    if store.scheme == "gs":  # each stage container was granted its own token
        assert len(store.granted) - granted_before == 4
    logs = (first.stdout + first.stderr + second.stdout + second.stderr).encode()
    written = _written(root) + logs
    for value in [*store.hidden, *store.granted[granted_before:]]:
        assert value.encode() not in written
    # the values unique to this test (Azurite's account key is every Azurite's, and other
    # tests running meanwhile write it too)
    unique = [v for v in [*store.hidden, *store.granted[granted_before:]] if v != AZURITE_KEY]
    assert unique
    assert _left_on_host(unique, started) == []


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
    done = _run(root, env, watcher)
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
        assert lines[0].endswith(
            "the store refused the credentials: check the secrets named in "
            "with.source.files.credentials"
        )
    assert "Traceback" not in done.stdout + done.stderr
    assert len(store.granted) == granted_before  # no token for a key signed by another
    _check_containers(watcher, store, {"full", "stream"})
    written = _written(root) + (done.stdout + done.stderr).encode()
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
    done = _run(root, env, Watcher(docker_client, root))
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
