"""``encryption: {key: awskms://...}`` with the stages in containers (the Docker executor, a real
engine): an ingest and a shell stage run, hit the sealed cache, export, and no container receives
the KMS credentials or the data key. The engine seals and opens outputs on the host, so only the
host talks to the KMS (moto's server, on loopback). While the run goes, every stage container is
inspected through the engine's API (its environment, its mounts, and the files of its secrets
mount); after it, every file lockgate wrote, the containers' mounts and the host's temporary
folders are grepped for the credentials, the data key (unwrapped from its record through the KMS)
and the data."""

from __future__ import annotations

import base64
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.executors.docker import RUN_LABEL
from tests.engine.kms_servers import MotoKms, start_moto
from tests.leaks import files_under, written_since
from tests.projects import CliResult, last_record, lockgate, states, write_project

PAYLOAD = "patient-7731,rare-condition"
SPEC = """\
version: 1
name: sealed-ctr
image: {{base: {base}, requirements: requirements.txt}}
secrets:
  aws-id: {{env: LG_TEST_KMS_ID}}
  aws-secret: {{env: LG_TEST_KMS_SECRET}}
  aws-region: {{env: LG_TEST_KMS_REGION}}
encryption:
  key: awskms://{endpoint}/alias/lockgate-data
  credentials: {{AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret, AWS_REGION: aws-region}}
stages:
  pull:
    uses: lockgate/ingest
    with:
      source: {{files: {{path: data/rows.csv}}}}
      output: {{compression: uncompressed}}  # the data's bytes appear as they are
  count:
    run: [sh, -c, 'sleep 1; cat "$LOCKGATE_IN"/pull/data/*.parquet > "$LOCKGATE_OUT/copy.parquet"; {{ env | sort; ls -la /run/secrets; }} > "$LOCKGATE_OUT/report.md"']
    needs: [pull]
"""
REQUIREMENTS = "polars>=1.20\npyarrow>=14\n"


class Watcher:
    """Inspects, through the engine's API, every stage container whose workspace is ``project``
    while it exists: its environment, mounts and the files its secrets mount holds."""

    def __init__(self, client: Any, project: Path) -> None:
        self.client = client
        self.project = str(project.resolve())
        self.seen: dict[str, dict[str, Any]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Watcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)

    def _watch(self) -> None:
        import docker.errors

        while not self.stop.is_set():
            # the low-level list: the high-level one inspects each container, and another
            # test's container may be removed between the listing and the inspection
            for c in self.client.api.containers(all=True, filters={"label": RUN_LABEL}):
                if c["Id"] in self.seen:
                    continue
                try:
                    attrs = self.client.api.inspect_container(c["Id"])
                except docker.errors.NotFound:
                    continue
                mounts = {m["Destination"]: m["Source"] for m in attrs["Mounts"]}
                if mounts.get("/workspace") != self.project:
                    continue  # another test's container
                secrets = Path(mounts["/run/secrets"])
                self.seen[c["Id"]] = {
                    "stage": attrs["Config"]["Labels"]["dev.lockgate.stage"],
                    "env": attrs["Config"]["Env"],
                    "mounts": mounts,
                    # read while the container exists: the folder goes when the stage ends
                    "secrets_read": secrets.is_dir(),
                    "secret_files": {
                        p.name: p.read_bytes() for p in secrets.glob("*") if p.is_file()
                    },
                }
            time.sleep(0.02)


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoKms]:
    pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
    pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")
    proc, kms = start_moto(tmp_path / "moto.log")
    yield kms
    proc.terminate()
    proc.wait(timeout=10)


def _data_key(record: Path, kms: MotoKms) -> bytes:
    """The plaintext of a wrapped data key, unwrapped through the KMS by the test."""
    import boto3

    wrapped = base64.b64decode(json.loads(record.read_text())["wrapped"])
    client = boto3.client(
        "kms",
        endpoint_url=f"http://{kms.endpoint}",
        region_name="us-east-1",
        aws_access_key_id=kms.access_key,
        aws_secret_access_key=kms.secret_key,
    )
    key = bytes(client.decrypt(CiphertextBlob=wrapped)["Plaintext"])
    assert len(key) == 32
    return key


def held_nowhere(needles: list[bytes], *project: Path, since: float) -> int:
    """Assert that no needle is in a file under the ``project`` folders, nor in a file written
    since ``since`` in the system's temporary folder or /dev/shm (see tests/leaks.py); returns
    how many project files were read."""
    read = 0
    for path in files_under(*project):
        body = path.read_bytes()
        assert not [n for n in needles if n in body], path
        read += 1
    assert written_since(needles, since) == []
    return read


@pytest.mark.slow
@pytest.mark.docker
def test_containers_never_receive_the_kms_credentials_or_the_data_key(
    tmp_path: Path, moto: MotoKms, base_image: str, docker_client: Any
) -> None:
    started = time.time()
    spec = SPEC.format(base=base_image, endpoint=moto.endpoint)
    files = {
        "data/rows.csv": f'who,what\n"{PAYLOAD}",1\nother-row,2\n',
        "requirements.txt": REQUIREMENTS,
    }
    root = write_project(tmp_path / "p", spec, files)
    env = {
        "LG_TEST_KMS_ID": moto.access_key,
        "LG_TEST_KMS_SECRET": moto.secret_key,
        "LG_TEST_KMS_REGION": "us-east-1",
    }

    def run(*args: str) -> CliResult:
        return lockgate("run", "--executor", "docker", *args, cwd=root, env=env, timeout=900)

    with Watcher(docker_client, root) as first_watch:
        first = run("--export-dir", "artifacts")
    assert first.code == 0, first.stderr[-4000:]
    assert states(last_record(root)) == {"pull": "ok", "count": "ok"}
    report = (root / "artifacts" / "count" / "report.md").read_text()  # reports stay plain
    assert "LOCKGATE_STAGE=count" in report

    with Watcher(docker_client, root) as again_watch:
        again = run()  # the data key unwrapped on the host; count's sealed entry hits
    assert again.code == 0, again.stderr[-4000:]
    # an ingest is never cached (its source changes under an unchanged spec); its output is the
    # same, so the stage after it is a hit
    assert states(last_record(root)) == {"pull": "ok", "count": "cached"}

    # the next CI job: only the exported artifacts, opened with the wrapped key they carry
    (root / "artifacts-copy").mkdir()
    for path in (root / "artifacts").rglob("*"):
        if path.is_file():
            target = root / "artifacts-copy" / path.relative_to(root / "artifacts")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    shutil.rmtree(root / ".lockgate")
    with Watcher(docker_client, root) as later_watch:
        later = run("--stage", "count", "--only", "--upstream-dir", "artifacts-copy")
    assert later.code == 0, later.stderr[-4000:]
    assert states(last_record(root)) == {"count": "ok"}

    watches = (first_watch, again_watch, later_watch)
    seen = [c for w in watches for c in w.seen.values()]
    assert sorted(c["stage"] for c in seen) == ["count", "count", "pull", "pull"], seen
    records = [*(root / ".lockgate" / ".lockgate-keys").glob("*.json")]
    records += (root / "artifacts" / ".lockgate-keys").glob("*.json")
    data_keys = {_data_key(record, moto) for record in records}
    assert len(data_keys) == 2  # the first runs' store, and the later job's own
    leaks = [moto.secret_key.encode(), moto.access_key.encode()]
    for key in data_keys:
        leaks += [key, key.hex().encode(), base64.b64encode(key)]

    for container in seen:
        told = "\n".join(container["env"]).encode()
        assert not [v for v in leaks if v in told], container["stage"]
        assert "AWS_" not in told.decode() and "LOCKGATE_ENCRYPTION" not in told.decode()
        assert container["secrets_read"], container["stage"]
        assert container["secret_files"] == {}, container["stage"]  # nothing lent to it
        sources = set(container["mounts"].values())
        for source in sources:  # all inside the project, or the secrets folder
            inside = Path(source).is_relative_to(root.resolve())
            assert inside or source == container["mounts"]["/run/secrets"], source

    needles = [PAYLOAD.encode(), *leaks]
    project = (root / ".lockgate", root / "artifacts")
    assert held_nowhere(needles, *project, since=started)
    for result in (first, again, later):
        assert moto.secret_key not in result.stdout + result.stderr
    assert os.path.exists(root / "artifacts" / "pull")
