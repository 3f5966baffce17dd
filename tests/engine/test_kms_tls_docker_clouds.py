"""Vault, Cloud KMS and Key Vault over TLS from inside containers (the Docker executor, a real
engine): a streaming ingest keeps its dataset sealed in its state folder, so its container
makes (first run) and unwraps (second run) that folder's data key itself, through the KMS that
``encryption.key`` names. No Vault or cloud can be reached where these tests run: each KMS is
the tests' recording server (tests/engine/kms_servers.py, gcp_kms_server.py, azure_kv_server.py),
serving HTTPS only, its token endpoint included, on the Docker bridge's gateway address (what a
container reaches of the host), with a certificate for that address from a CA made for the test
and named in ``encryption.ca_file``. The AWS KMS counterpart is test_kms_tls_docker_runs.py.

The servers record each request's client address, so the calls a container made (an address in
the bridge's subnet other than the gateway's) are told apart from the host's (the engine seals
the stage's outputs with the project's own data key). Every data key the KMS ever wrapped (read from the server's side: raw, hex, base64)
and every credential and token are then grepped for in the containers' environments, everything
lockgate wrote and the host's temporary folders; the data's bytes must appear in no sealed file."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.bridge import bridge_gateway
from tests.engine.azure_kv_server import AzureKeyVaultServer
from tests.engine.gcp_kms_server import GcpKmsServer
from tests.engine.kms_cloud_servers import b64url_decode
from tests.engine.kms_servers import ServerTls, VaultTransitServer
from tests.engine.test_kms_docker_runs import Watcher, held_nowhere
from tests.engine.test_kms_tls_docker_runs import _partition
from tests.engine.tls_ca import make_tls
from tests.projects import CliResult, last_record, lockgate, states, write_project

SPEC = """\
version: 1
name: sealed-tls-{kind}
image: {{base: {base}, requirements: requirements.txt}}
secrets:
{secrets}
encryption:
  key: {uri}
  credentials: {{{credentials}}}
  ca_file: tls/ca.pem
stages:
  pull:
    uses: lockgate/ingest
    with:
      source: {{files: {{path: raw}}}}
      mode: stream
      transform: [{{drop: [day]}}]  # the hive partition column
      output: {{compression: uncompressed}}  # the data's bytes appear as they are
"""
REQUIREMENTS = "polars>=1.20\npyarrow>=14\ncryptography\n"
VAULT_TOKEN = "hvs.container-tls-token"
# per KMS: what a container calls to make a data key, and to unwrap one
CALLS = {
    "vault": ("/v1/transit/datakey/plaintext/", "/v1/transit/decrypt/"),
    "gcp": (":encrypt", ":decrypt"),
    "azure": ("/wrapkey?", "/unwrapkey?"),
}


class Kms:
    """One recording server on the bridge's gateway, and what a project needs to use it."""

    def __init__(self, kind: str, gateway: str, tls: ServerTls) -> None:
        self.kind = kind
        self.server: Any
        if kind == "vault":
            self.server = VaultTransitServer(VAULT_TOKEN, tls=tls, host=gateway)
            self.uri = "hashivault://lockgate"
            self.values = {"VAULT_ADDR": self.server.addr, "VAULT_TOKEN": VAULT_TOKEN}
            self.secrets = [VAULT_TOKEN]
        elif kind == "gcp":
            self.server = GcpKmsServer(host=gateway, tls=tls)
            account = self.server.account("containers")
            self.uri = f"gcpkms://{self.server.key('data')}"
            self.values = {
                "GOOGLE_SERVICE_ACCOUNT_KEY": json.dumps(account),
                "GOOGLE_KMS_ENDPOINT": self.server.url,
            }
            body = account["private_key"].split("-----")[2]
            self.secrets = [line for line in body.split() if len(line) > 40]
        else:
            self.server = AzureKeyVaultServer(host=gateway, tls=tls)
            client_id, secret = self.server.client()
            self.uri = f"azurekms://{self.server.host}/data"
            self.values = {
                "AZURE_TENANT_ID": self.server.tenant,
                "AZURE_CLIENT_ID": client_id,
                "AZURE_CLIENT_SECRET": secret,
                "AZURE_AUTHORITY_HOST": self.server.url,
            }
            self.secrets = [secret]

    def spec(self, base: str) -> str:
        names = {name: name.lower().replace("_", "-") for name in self.values}
        secrets = "\n".join(f"  {s}: {{env: LG_TEST_{n}}}" for n, s in names.items())
        credentials = ", ".join(f"{n}: {s}" for n, s in names.items())
        return SPEC.format(
            kind=self.kind, base=base, secrets=secrets, uri=self.uri, credentials=credentials
        )

    def env(self) -> dict[str, str]:
        return {f"LG_TEST_{name}": value for name, value in self.values.items()}

    def data_keys(self) -> set[bytes]:
        """Every data key the KMS wrapped, as the server saw it."""
        if isinstance(self.server, VaultTransitServer):
            return set(self.server.data_keys)
        keys = set()
        for request in self.server.requests:
            if self.kind == "gcp" and request["path"].endswith(":encrypt"):
                keys.add(base64.b64decode(json.loads(request["body"])["plaintext"]))
            if self.kind == "azure" and "/wrapkey?" in request["path"]:
                keys.add(b64url_decode(json.loads(request["body"])["value"]))
        return keys

    def leaks(self) -> list[bytes]:
        """What must appear nowhere: the data keys, credentials, tokens and signed assertions."""
        found = [s.encode() for s in self.secrets]
        for key in self.data_keys():
            assert len(key) == 32
            found += [key, key.hex().encode(), base64.b64encode(key)]
        if not isinstance(self.server, VaultTransitServer):
            found += [t.encode() for t in self.server.tokens]
            for request in self.server.requests:
                if b"assertion=" in request.get("body", b""):
                    found.append(request["body"].split(b"assertion=")[1][:200])
        return found


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory, docker_client: Any) -> dict[str, Any]:
    gateway, subnet = bridge_gateway(docker_client)
    tls = make_tls(tmp_path_factory.mktemp("tls-clouds"), gateway)
    return {"gateway": gateway, "subnet": subnet, "tls": tls}


@pytest.fixture(params=list(CALLS))
def kms(request: pytest.FixtureRequest, bridge: dict[str, Any]) -> Iterator[Kms]:
    served = Kms(request.param, bridge["gateway"], bridge["tls"])
    with served.server:
        yield served


def _from_containers(kms: Kms, gateway: str, subnet: str, inside: bool = True) -> list[str]:
    """The paths a container asked for (an address of the bridge other than the gateway's), or
    with ``inside=False`` the host did."""
    import ipaddress

    network = ipaddress.ip_network(subnet)
    return [
        r["path"]
        for r in kms.server.requests
        if (r["client"] != gateway and ipaddress.ip_address(r["client"]) in network) == inside
    ]


@pytest.mark.slow
@pytest.mark.docker
def test_an_ingest_container_makes_and_unwraps_its_data_key_over_tls(
    kms: Kms, bridge: dict[str, Any], tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    started = time.time()
    tls: ServerTls = bridge["tls"]
    assert "http://" not in json.dumps(kms.values)  # KMS, token endpoint: each https://
    files = {"requirements.txt": REQUIREMENTS, "tls/ca.pem": tls.ca.read_text()}
    root = write_project(tmp_path / "p", kms.spec(base_image), files)
    # seeds of this run only: another test's plaintext in the temporary folders must not match
    seed = random.SystemRandom().randrange(1 << 32)
    data = [_partition(root, "2024-05-01", 24, seed)]

    def run() -> tuple[CliResult, Watcher]:
        with Watcher(docker_client, root) as watch:
            result = lockgate("run", "--executor", "docker", cwd=root, env=kms.env(), timeout=900)
        assert result.code == 0, result.stderr[-4000:]
        assert states(last_record(root)) == {"pull": "ok"}
        return result, watch

    first, first_watch = run()  # the container makes the state folder's data key
    made, unwrap = CALLS[kms.kind]
    by_containers = _from_containers(kms, bridge["gateway"], bridge["subnet"])
    assert [p for p in by_containers if made in p] and not [
        p for p in by_containers if unwrap in p
    ], by_containers
    data.append(_partition(root, "2024-05-02", 8, seed + 1))
    second, second_watch = run()  # a fresh container opens the sealed dataset: it unwraps
    sealed_parts = sorted(
        (root / ".lockgate" / "state" / "ingest" / "pull").rglob("*.parquet.sealed")
    )
    assert len(sealed_parts) == 2
    by_containers = _from_containers(kms, bridge["gateway"], bridge["subnet"])
    assert len([p for p in by_containers if made in p]) == 1, by_containers
    assert len([p for p in by_containers if unwrap in p]) == 1, by_containers
    # the engine's own store, sealed and opened on the host: made once, unwrapped once
    by_host = _from_containers(kms, bridge["gateway"], bridge["subnet"], inside=False)
    assert len([p for p in by_host if made in p]) == 1, by_host
    assert len([p for p in by_host if unwrap in p]) == 1, by_host

    # the project's store and the ingest's state folder: two data keys, both wrapped here
    records = list(root.rglob(".lockgate-keys/*.json"))
    assert len(records) == 2 and len(kms.data_keys()) == 2, records
    leaks = kms.leaks()
    seen = [c for w in (first_watch, second_watch) for c in w.seen.values()]
    assert [c["stage"] for c in seen] == ["pull", "pull"], seen
    for container in seen:
        told = "\n".join(container["env"])
        assert not [v for v in leaks if v in told.encode()], container["stage"]
        assert f"LOCKGATE_ENCRYPTION_KEY={kms.uri}" in told
        assert "LOCKGATE_ENCRYPTION_CA=tls/ca.pem" in told
        names = {line.partition("=")[0] for line in container["env"]}
        assert not names & set(kms.values), container["env"]  # credentials only as files
        assert set(container["secret_files"]) == {n.lower().replace("_", "-") for n in kms.values}
        assert not Path(container["mounts"]["/run/secrets"]).exists()  # gone with the stage

    needles = [*data, *leaks]
    assert held_nowhere(needles, root / ".lockgate", since=started) > 8
    for result in (first, second):
        assert not [v for v in leaks if v in (result.stdout + result.stderr).encode()]


# per KMS: the settings that go with ``stage_credentials: minted``, and the files a stage gets
MINTED = {
    "vault": (
        "  vault_policies: [lockgate-transit]\n",
        {"minted-vault-addr", "minted-vault-token"},
    ),
    "gcp": (
        "",
        {
            "minted-google-access-token",
            "minted-google-access-token-expiry",
            "minted-google-kms-endpoint",
        },
    ),
    "azure": ("", {"minted-azure-access-token", "minted-azure-access-token-expiry"}),
}
MINTED_TOKEN = {
    "vault": "minted-vault-token",
    "gcp": "minted-google-access-token",
    "azure": "minted-azure-access-token",
}


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.parametrize("kind", list(MINTED))
def test_an_ingest_container_gets_only_a_minted_token(
    kind: str, bridge: dict[str, Any], tmp_path: Path, base_image: str, docker_client: Any
) -> None:
    """``stage_credentials: minted``: the container holds only a token minted on the host for
    its attempt (Vault: a child of the host's root token with the one transit policy, revoked
    after it; Cloud KMS: a cloudkms-scoped access token; Key Vault: a vault access token), and
    every KMS call from the container's address carries it; the host's long-lived credential is
    in neither the container nor anything written."""
    started = time.time()
    tls: ServerTls = bridge["tls"]
    kms = Kms(kind, bridge["gateway"], tls)
    settings, expected = MINTED[kind]
    minted = f"  ca_file: tls/ca.pem\n  stage_credentials: minted\n{settings}"
    spec = kms.spec(base_image).replace("  ca_file: tls/ca.pem\n", minted)
    files = {"requirements.txt": REQUIREMENTS, "tls/ca.pem": tls.ca.read_text()}
    root = write_project(tmp_path / "p", spec, files)
    seed = random.SystemRandom().randrange(1 << 32)
    data = _partition(root, "2024-05-01", 24, seed)
    subnet = ipaddress.ip_network(bridge["subnet"])
    with kms.server, Watcher(docker_client, root) as watch:
        result = lockgate("run", "--executor", "docker", cwd=root, env=kms.env(), timeout=900)
        assert result.code == 0, result.stderr[-4000:]
        by_containers = [  # a container's address: in the bridge's subnet, not its gateway
            r
            for r in kms.server.requests
            if r["client"] != bridge["gateway"] and ipaddress.ip_address(r["client"]) in subnet
        ]
        leaks = kms.leaks()
    assert states(last_record(root)) == {"pull": "ok"}
    (container,) = watch.seen.values()
    got = container["secret_files"]
    assert set(got) == expected, got
    token = got[MINTED_TOKEN[kind]].decode()
    sent = {
        r["headers"].get("X-Vault-Token") or r["headers"]["Authorization"] for r in by_containers
    }
    assert by_containers and sent == ({token} if kind == "vault" else {f"Bearer {token}"}), sent
    if kind == "vault":
        assert kms.server.revoked == [token] and token != VAULT_TOKEN
    else:
        assert time.time() < int(got[MINTED_TOKEN[kind] + "-expiry"]) <= time.time() + 3600
    told = "\n".join(container["env"])
    assert not [v for v in [*leaks, token.encode()] if v in told.encode()]
    long_lived = [s.encode() for s in kms.secrets]
    assert not [v for v in long_lived if v in b"".join(got.values())]
    assert not Path(container["mounts"]["/run/secrets"]).exists()  # gone with the stage
    needles = [data, *leaks, token.encode()]
    assert held_nowhere(needles, root / ".lockgate", since=started) > 5
    assert not [v for v in needles[1:] if v in (result.stdout + result.stderr).encode()]
