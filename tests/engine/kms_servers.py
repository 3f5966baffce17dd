"""KMS servers for the encryption-at-rest tests.

``moto_kms``: moto's server, a real HTTP server answering the AWS KMS API (with IAM
authentication on, so unknown credentials and a user without a KMS policy are refused as AWS
refuses them). ``VaultTransitServer``: no Vault binary can be installed here, so a small HTTP
server answers the two transit endpoints lockgate calls exactly as Vault's API documents them
(``POST /v1/transit/datakey/plaintext/:name``, ``POST /v1/transit/decrypt/:name``, token in
``X-Vault-Token``, errors as ``{"errors": [...]}``), with real AES-256-GCM per named key, and
records every request it gets.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.jsonhttp import JsonHandler


def as_a_new_process(monkeypatch: Any) -> None:
    """What a later process starts with: no KMS client and no unwrapped data key (a process
    keeps one key ring per KMS URI and credentials, see lockgate.engine.kms.envelope)."""
    from lockgate.engine.kms import envelope

    monkeypatch.setattr(envelope, "_RINGS", {})


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class MotoKms:
    endpoint: str  # host:port, as it goes into awskms://ENDPOINT/KEY
    access_key: str
    secret_key: str
    denied_access_key: str  # a user with no KMS permission
    denied_secret_key: str
    key_arn: str
    other_key_arn: str
    url: str = ""  # http(s)://ENDPOINT, for the test's own boto3 clients
    verify: str | bool = True  # the CA file those clients check TLS against
    role_arn: str = ""  # with ``role=True``: a role the sealer may assume (kms:Decrypt and
    # kms:GenerateDataKey only, on any key: moto matches no Resource but ``*``)


@dataclass(frozen=True)
class ServerTls:
    """A server certificate and key (PEM files) and the CA file that vouches for them."""

    cert: Path
    key: Path
    ca: Path


def start_moto(
    log: Path, host: str = "127.0.0.1", tls: ServerTls | None = None, role: bool = False
) -> tuple[subprocess.Popen[bytes], MotoKms]:
    """moto's server on ``host``: plain HTTP, or HTTPS only with ``tls``'s certificate; with
    ``role``, also a role the sealer may assume (``MotoKms.role_arn``)."""
    import boto3

    port = free_port(host)
    # the first requests go unauthenticated: they create the users, the role and their policies
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "7" if role else "5"}
    argv = [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)]
    if tls is not None:
        argv += ["-c", str(tls.cert), "-k", str(tls.key)]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"moto server did not start: {log.read_text()}") from None
            time.sleep(0.1)
    url = f"{'https' if tls else 'http'}://{host}:{port}"
    verify: str | bool = str(tls.ca) if tls else True
    boot = {"aws_access_key_id": "boot", "aws_secret_access_key": "boot"}
    iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1", verify=verify, **boot)
    iam.create_user(UserName="sealer")  # 1
    iam.put_user_policy(  # 2
        UserName="sealer",
        PolicyName="kms",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
                    *([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}] * role),
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="sealer")["AccessKey"]  # 3
    iam.create_user(UserName="outsider")  # 4
    denied = iam.create_access_key(UserName="outsider")["AccessKey"]  # 5
    role_arn = _stage_role(iam) if role else ""  # 6, 7
    kms = boto3.client(
        "kms",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        verify=verify,
    )
    arn = kms.create_key(Description="lockgate data")["KeyMetadata"]["Arn"]
    other = kms.create_key(Description="another")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/lockgate-data", TargetKeyId=arn)
    kms.create_alias(AliasName="alias/another", TargetKeyId=other)
    return proc, MotoKms(
        f"{host}:{port}",
        key["AccessKeyId"],
        key["SecretAccessKey"],
        denied["AccessKeyId"],
        denied["SecretAccessKey"],
        arn,
        other,
        url,
        verify,
        role_arn,
    )


def _stage_role(iam: Any) -> str:
    """A role that only the sealer may assume, allowed the two KMS calls a stage makes."""
    sealer = "arn:aws:iam::123456789012:user/sealer"  # moto's default account
    trust = {"Effect": "Allow", "Principal": {"AWS": sealer}, "Action": "sts:AssumeRole"}
    arn = iam.create_role(
        RoleName="lockgate-stage",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [trust]}),
    )["Role"]["Arn"]
    allow = {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*"}
    iam.put_role_policy(
        RoleName="lockgate-stage",
        PolicyName="kms",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    return str(arn)


class VaultTransitServer:
    """Vault's transit API, the part lockgate uses, on a loopback port or on ``host`` (HTTPS
    only with ``tls``: a certificate for that address). Each request is recorded with the
    client's address; so is every data key it hands out (``data_keys``)."""

    def __init__(
        self,
        token: str,
        keys: tuple[str, ...] = ("lockgate", "other"),
        tls: ServerTls | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        from tests.engine.kms_cloud_servers import serve_tls

        self.token = token
        self.keys = {name: os.urandom(32) for name in keys}
        self.requests: list[dict[str, Any]] = []
        self.data_keys: list[bytes] = []
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        if tls is not None:
            serve_tls(self.server, tls)
        scheme = "https" if tls else "http"
        self.addr = f"{scheme}://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> VaultTransitServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, path: str, token: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if token != self.token:
            return 403, {"errors": ["permission denied"]}
        parts = path.strip("/").split("/")
        if parts[:2] != ["v1", "transit"]:
            return 404, {"errors": []}
        action, name = "/".join(parts[2:-1]), parts[-1]
        if name not in self.keys:
            return 400, {"errors": ["encryption key not found"]}
        aes = AESGCM(self.keys[name])
        if action == "datakey/plaintext":
            plain, nonce = os.urandom(int(body.get("bits", 256)) // 8), os.urandom(12)
            self.data_keys.append(plain)
            wrapped = (
                "vault:v1:" + base64.b64encode(nonce + aes.encrypt(nonce, plain, None)).decode()
            )
            data = {"plaintext": base64.b64encode(plain).decode(), "ciphertext": wrapped}
            return 200, {"data": {**data, "key_version": 1}}
        if action == "decrypt":
            raw = base64.b64decode(str(body.get("ciphertext", "")).removeprefix("vault:v1:"))
            try:
                plain = aes.decrypt(raw[:12], raw[12:], None)
            except InvalidTag:
                return 400, {"errors": ["cipher: message authentication failed"]}
            return 200, {"data": {"plaintext": base64.b64encode(plain).decode()}}
        return 405, {"errors": ["unsupported operation"]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        vault = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:
                body = self.body()
                request = {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                    "client": self.client_address[0],
                }
                vault.requests.append(request)
                status, answer = vault._answer(
                    self.path, self.headers.get("X-Vault-Token"), json.loads(body or b"{}")
                )
                self.reply(status, answer)

        return Handler


def assumed_roles(kms: MotoKms) -> list[dict[str, Any]]:
    """The sessions moto's STS handed out, as it keeps them (role, session name and policy,
    the credentials), read from moto's own state."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=kms.verify) if isinstance(kms.verify, str) else None
    with urllib.request.urlopen(f"{kms.url}/moto-api/data.json", context=context) as resp:
        state = json.load(resp)
    return list(state.get("sts", {}).get("AssumedRole", []))
