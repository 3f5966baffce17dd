"""The two stages that seal what they keep themselves, in containers (the Docker executor, a
real engine), with ``encryption: {key: awskms://...}``: a streaming ingest, whose dataset lives
sealed in the state folder, and ``train``, whose checkpoints are sealed. Each container unwraps
its own data key through the KMS: moto's server answering the AWS KMS API over HTTPS only, on
the Docker bridge's gateway address (what a container reaches of the host), with a certificate
for that address from a CA made for the test and named in ``encryption.ca_file``.

First run: the ingest reads two partitions; train is SIGKILLed mid-training by its own model
after a sealed checkpoint, and its retry (a fresh container) resumes from that checkpoint. A new
partition: the ingest reads only it, into the sealed dataset it opens. The second run's exports
handed back: train's sealed cache entry hits. A fresh checkout opens the exported ingest output and trains on it.

The watcher (from the plain-HTTP test) inspects every container while it exists. Such a stage
receives exactly the credential secrets ``encryption.credentials`` names, as files in its own
secrets mount, and nothing in its environment but the key's URI, the credential names and the CA
file's path; every other container receives no secret at all. Afterwards every data key
(unwrapped by the test through the KMS: raw, hex, base64), the credentials and the data are
grepped for in everything lockgate wrote and in the host's temporary folders."""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge import bridge_gateway
from tests.engine.kms_servers import MotoKms, ServerTls, start_moto
from tests.engine.test_kms_docker_runs import Watcher, held_nowhere
from tests.engine.tls_ca import make_tls
from tests.projects import CliResult, last_record, lockgate, states, write_project

SPEC = """\
version: 1
name: sealed-tls
image: {{base: {base}, requirements: requirements.txt}}
secrets:
  aws-id: {{env: LG_TEST_KMS_ID}}
  aws-secret: {{env: LG_TEST_KMS_SECRET}}
  aws-region: {{env: LG_TEST_KMS_REGION}}
encryption:
  key: awskms://{endpoint}/alias/lockgate-data
  credentials: {{AWS_ACCESS_KEY_ID: aws-id, AWS_SECRET_ACCESS_KEY: aws-secret, AWS_REGION: aws-region}}
  ca_file: tls/ca.pem
stages:
  pull:
    uses: lockgate/ingest
    with:
      source: {{files: {{path: raw}}}}
      mode: stream
      transform: [{{drop: [day]}}]  # the hive partition column
      output: {{compression: uncompressed}}  # the data's bytes appear as they are
  fit:
    uses: lockgate/train
    needs: [pull]
    inputs: [model.py]
    retries: 1
    with:
      entrypoint: "model:build"
      data: {{train: in:pull, target: label}}
      epochs: 3
      batch_size: 16
      checkpoint_every: 4
      seed: 1
      device: cpu
      tracking: "off"
"""
REQUIREMENTS = "polars>=1.20\npyarrow>=14\nnumpy\ntorch==2.13.0\nboto3\ncryptography\n"
MODEL = """\
import os, signal
from pathlib import Path
from torch import nn
from lockgate.stages.train import TrainPlan

class Doomed(nn.Module):
    # the first attempt SIGKILLs its own process during step 10 (after the checkpoint at step 8)
    def __init__(self, n_in, n_out, marker):
        super().__init__()
        self.net = nn.Linear(n_in, n_out)
        self.marker, self.calls = marker, 0
    def forward(self, x):
        if self.training and self.marker is not None:
            self.calls += 1
            if self.calls == 10:
                self.marker.write_text("killed")
                os.kill(os.getpid(), signal.SIGKILL)
        return self.net(x)

def build(ctx):
    marker = Path(os.environ["LOCKGATE_STATE"]) / "killed-once"
    return TrainPlan(model=Doomed(ctx.data.n_features, ctx.data.n_classes,
                                  None if marker.exists() else marker))
"""
CREDENTIAL_SECRETS = {"aws-id", "aws-secret", "aws-region"}


def _from_containers(log: Path, gateway: str, subnet: str) -> int:
    """How many requests moto's log shows from a container's address (not the gateway's)."""
    import ipaddress

    count = 0
    for line in log.read_text(errors="replace").splitlines():
        first = line.split(" ", 1)[0]
        try:
            address = ipaddress.ip_address(first)
        except ValueError:
            continue
        inside = address in ipaddress.ip_network(subnet)
        count += inside and first != gateway and '"POST / HTTP/1.1" 200' in line
    return count


@pytest.fixture(scope="module")
def tls_moto(
    tmp_path_factory: pytest.TempPathFactory, docker_client: Any
) -> Iterator[tuple[MotoKms, ServerTls, Callable[[], int]]]:
    pytest.importorskip("boto3", reason="the kms extra: pip install -e '.[kms]'")
    pytest.importorskip("moto", reason="a local AWS KMS: pip install 'moto[server]'")
    folder = tmp_path_factory.mktemp("tls-moto")
    gateway, subnet = bridge_gateway(docker_client)
    tls = make_tls(folder / "tls", gateway)
    proc, kms = start_moto(folder / "moto.log", gateway, tls)
    try:
        yield kms, tls, lambda: _from_containers(folder / "moto.log", gateway, subnet)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _partition(root: Path, day: str, rows: int, seed: int) -> bytes:
    """A partition of float features and a label; returns the raw bytes of its first 8 values of
    ``a`` (little-endian float64), which show in an uncompressed Parquet file."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    frame = pl.DataFrame({"a": a, "b": b, "label": (a + b > 0).astype("int64")})
    folder = root / "raw" / f"day={day}"
    folder.mkdir(parents=True)
    frame.write_parquet(folder / "p.parquet", compression="uncompressed")
    return a[:8].astype("<f8").tobytes()


def _data_key(record: Path, kms: MotoKms) -> bytes:
    import boto3

    wrapped = base64.b64decode(json.loads(record.read_text())["wrapped"])
    client = boto3.client(
        "kms",
        endpoint_url=kms.url,
        region_name="us-east-1",
        aws_access_key_id=kms.access_key,
        aws_secret_access_key=kms.secret_key,
        verify=kms.verify,
    )
    key = bytes(client.decrypt(CiphertextBlob=wrapped)["Plaintext"])
    assert len(key) == 32
    return key


@pytest.mark.slow
@pytest.mark.docker
def test_sealed_state_stages_unwrap_their_own_data_key_over_tls_in_containers(
    tmp_path: Path,
    tls_moto: tuple[MotoKms, ServerTls, Callable[[], int]],
    base_image: str,
    docker_client: Any,
) -> None:
    kms, tls, container_calls = tls_moto
    started = time.time()
    spec = SPEC.format(base=base_image, endpoint=kms.endpoint)
    root = write_project(
        tmp_path / "p",
        spec,
        {"requirements.txt": REQUIREMENTS, "model.py": MODEL, "tls/ca.pem": tls.ca.read_text()},
    )
    data = [_partition(root, "2024-05-01", 64, 1), _partition(root, "2024-05-02", 32, 2)]
    assert data[0] in (root / "raw" / "day=2024-05-01" / "p.parquet").read_bytes()
    env = {
        "LG_TEST_KMS_ID": kms.access_key,
        "LG_TEST_KMS_SECRET": kms.secret_key,
        "LG_TEST_KMS_REGION": "us-east-1",
    }

    def run(*args: str) -> CliResult:
        return lockgate("run", "--executor", "docker", *args, cwd=root, env=env, timeout=1500)

    watches = []
    with Watcher(docker_client, root) as watch:
        first = run("--export-dir", "artifacts")
    watches.append(watch)
    assert first.code == 0, first.stderr[-4000:]
    assert states(last_record(root)) == {"pull": "ok", "fit": "ok"}
    pulled = json.loads((root / "artifacts" / "pull" / "metrics.json").read_text())
    assert pulled == {"rows": 96, "rows_this_run": 96, "batches": 2}
    report = (root / "artifacts" / "fit" / "report.md").read_text()
    assert "Resumed from the checkpoint at step 8." in report, report
    assert "18 steps" in report, report  # 96 rows in batches of 16, 3 epochs
    assert (root / ".lockgate" / "state" / "killed-once").is_file()
    checkpoints = sorted((root / ".lockgate" / "state" / "train" / "fit").rglob("step-*.pt"))
    assert checkpoints and all(p.read_bytes().startswith(b"LGSEAL") for p in checkpoints)
    sealed_parts = sorted(
        (root / ".lockgate" / "state" / "ingest" / "pull").rglob("*.parquet.sealed")
    )
    assert len(sealed_parts) == 2

    data.append(_partition(root, "2024-05-03", 16, 3))
    with Watcher(docker_client, root) as watch:  # the ingest opens its sealed dataset
        second = run("--export-dir", "artifacts-2")
    watches.append(watch)
    assert second.code == 0, second.stderr[-4000:]
    assert states(last_record(root)) == {"pull": "ok", "fit": "ok"}
    pulled = json.loads((root / "artifacts-2" / "pull" / "metrics.json").read_text())
    assert pulled == {"rows": 112, "rows_this_run": 16, "batches": 1}

    # the second run's exported ingest output, handed back: train's sealed entry hits (a stream
    # run that reads nothing new would not do: its metrics.json counts this run's rows)
    with Watcher(docker_client, root) as watch:
        third = run("--stage", "fit", "--only", "--upstream-dir", "artifacts-2")
    watches.append(watch)
    assert third.code == 0, third.stderr[-4000:]
    assert states(last_record(root)) == {"fit": "cached"}

    # the next CI job: a fresh checkout with only the exported artifacts
    fresh = write_project(
        tmp_path / "fresh",
        spec,
        {"requirements.txt": REQUIREMENTS, "model.py": MODEL, "tls/ca.pem": tls.ca.read_text()},
    )
    (fresh / ".lockgate" / "state").mkdir(parents=True)
    (fresh / ".lockgate" / "state" / "killed-once").write_text("no kill here")
    shutil.copytree(root / "artifacts-2", fresh / "upstream")
    with Watcher(docker_client, fresh) as watch:
        later = lockgate(
            "run",
            "--executor",
            "docker",
            "--stage",
            "fit",
            "--only",
            "--upstream-dir",
            "upstream",
            cwd=fresh,
            env=env,
            timeout=1500,
        )
    watches.append(watch)
    assert later.code == 0, later.stderr[-4000:]
    assert states(last_record(fresh)) == {"fit": "ok"}
    (fresh_report,) = (fresh / ".lockgate" / "cache").rglob("report.md")
    assert "21 steps" in fresh_report.read_text()  # 112 rows, from step 0
    assert "Resumed" not in fresh_report.read_text()

    # each stage container made or unwrapped its data key itself, over TLS: run 1's ingest
    # (GenerateDataKey) and train's two attempts, run 2's ingest and train, the fresh train
    # (GenerateDataKey: its new state folder); the cache hit started none
    assert container_calls() == 6
    seen = [c for w in watches for c in w.seen.values()]
    assert sorted(c["stage"] for c in seen) == ["fit"] * 4 + ["pull"] * 2, seen
    records = [p for top in (root, fresh) for p in top.rglob(".lockgate-keys/*.json")]
    data_keys = {_data_key(record, kms) for record in records}
    # project store, state store (ingest and train's checkpoints), the fresh job's two
    assert len(data_keys) == 4, records
    leaks = [kms.secret_key.encode(), kms.access_key.encode()]
    for key in data_keys:
        leaks += [key, key.hex().encode(), base64.b64encode(key)]

    for container in seen:
        told = "\n".join(container["env"])
        assert not [v for v in leaks if v in told.encode()], container["stage"]
        names = [line.partition("=")[0] for line in container["env"]]
        assert not [n for n in names if n.startswith("AWS_")], container["stage"]
        assert f"LOCKGATE_ENCRYPTION_KEY=awskms://{kms.endpoint}/alias/lockgate-data" in told
        assert "LOCKGATE_ENCRYPTION_CA=tls/ca.pem" in told
        # least privilege: the credential secrets encryption.credentials names, nothing else
        assert set(container["secret_files"]) == CREDENTIAL_SECRETS, container["stage"]
        assert container["secret_files"]["aws-secret"].strip() == kms.secret_key.encode()
        top = Path(container["mounts"]["/workspace"])
        for source in container["mounts"].values():
            inside = Path(source).is_relative_to(top)
            assert inside or source == container["mounts"]["/run/secrets"], source
        # the secrets folder is gone with the stage
        assert not Path(container["mounts"]["/run/secrets"]).exists(), container["stage"]

    exports = ("artifacts", "artifacts-2")
    project = (*(root / e for e in exports), root / ".lockgate", fresh / ".lockgate")
    assert held_nowhere([*data, *leaks], *project, since=started) > 20
    for result in (first, second, third, later):
        assert kms.secret_key not in result.stdout + result.stderr
