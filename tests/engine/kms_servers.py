"""KMS servers for the encryption-at-rest tests.

``moto_kms``: moto's server, a real HTTP server answering the AWS KMS API (with IAM
authentication on, so unknown credentials and a user without a KMS policy are refused as AWS
refuses them). ``VaultTransitServer``: no Vault binary can be installed here, so a small HTTP
server answers the two transit endpoints lockgate calls exactly as Vault's API documents them
(``POST /v1/transit/datakey/plaintext/:name``, ``POST /v1/transit/decrypt/:name``, token in
``X-Vault-Token``, errors as ``{"errors": [...]}``), with real AES-256-GCM per named key, and
records every request it gets. Its token store follows Vault's token auth method:
``POST /v1/auth/token/create`` (``policies``, ``ttl``, ``explicit_max_ttl``, ``renewable``,
``display_name``, ``num_uses``; a child's policies must be a subset of its parent's unless the
parent is root), ``GET /v1/auth/token/lookup-self``, ``POST /v1/auth/token/revoke-self``; a
token past its TTL, revoked, or whose policies do not grant the path is refused with 403
``permission denied``. Policies are modelled as the exact paths they grant ``update`` on.
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
import uuid
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

        self.token = token  # a root token
        self.keys = {name: os.urandom(32) for name in keys}
        # ACL policies: name -> the paths it allows (update capability)
        self.policies: dict[str, set[str]] = {
            "lockgate-transit": {
                "transit/datakey/plaintext/lockgate",
                "transit/decrypt/lockgate",
            },
            "token-creator": {"auth/token/create"},
        }
        # token -> its entry as lookup-self shows it, plus "expires" (Unix seconds or None)
        self.store: dict[str, dict[str, Any]] = {
            token: {"policies": ["root"], "expires": None, "display_name": "root", "ttl": 0}
        }
        self.revoked: list[str] = []
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

    def add_token(self, policies: list[str]) -> str:
        """A non-root token with ``policies``, as an operator would hand lockgate."""
        token = "hvs." + base64.urlsafe_b64encode(os.urandom(18)).decode()
        self.store[token] = {"policies": policies, "expires": None, "display_name": "token"}
        return token

    def _entry(self, token: str | None, path: str) -> dict[str, Any] | None:
        """The live token's entry if its policies grant ``path`` (root grants everything)."""
        entry = self.store.get(token or "")
        if entry is None or (entry["expires"] is not None and entry["expires"] <= time.time()):
            return None
        granted = set().union(*(self.policies.get(p, set()) for p in entry["policies"]))
        return entry if "root" in entry["policies"] or path in granted else None

    def _token_api(self, action: str, token: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        denied = 403, {"errors": ["permission denied"]}
        if action == "revoke-self":
            if self._entry(token, "auth/token/revoke-self") is None and token not in self.store:
                return denied
            self.store.pop(token or "", None)
            self.revoked.append(token or "")
            return 204, None
        if action == "lookup-self":
            entry = self.store.get(token or "")
            if entry is None or (entry["expires"] is not None and entry["expires"] <= time.time()):
                return denied
            ttl = 0 if entry["expires"] is None else int(entry["expires"] - time.time())
            shown = {k: v for k, v in entry.items() if k != "expires"}
            return 200, {"data": {**shown, "id": token, "ttl": ttl}}
        if action != "create":
            return 405, {"errors": ["unsupported path"]}
        parent = self._entry(token, "auth/token/create")
        if parent is None:
            return denied
        policies = [str(p) for p in body.get("policies") or parent["policies"]]
        if "root" not in parent["policies"] and not set(policies) <= set(parent["policies"]):
            return 400, {"errors": ["child policies must be subset of parent"]}
        ttl, max_ttl = _seconds(body.get("ttl")), _seconds(body.get("explicit_max_ttl"))
        lasts = min(t for t in (ttl, max_ttl) if t) if (ttl or max_ttl) else 0
        child = "hvs." + base64.urlsafe_b64encode(os.urandom(18)).decode()
        self.store[child] = {
            "policies": sorted({*policies, "default"}),
            "expires": time.time() + lasts if lasts else None,
            "display_name": f"token-{body.get('display_name', '')}".rstrip("-"),
            "creation_ttl": lasts,
            "explicit_max_ttl": max_ttl,
            "renewable": bool(body.get("renewable", True)),
            "num_uses": int(body.get("num_uses", 0)),
            "parent": token,
        }
        auth = {
            "client_token": child,
            "accessor": uuid.uuid4().hex,
            "policies": self.store[child]["policies"],
            "token_policies": self.store[child]["policies"],
            "lease_duration": lasts,
            "renewable": self.store[child]["renewable"],
            "orphan": False,
            "num_uses": self.store[child]["num_uses"],
        }
        return 200, {"auth": auth, "data": None}

    def _answer(self, path: str, token: str | None, body: dict[str, Any]) -> tuple[int, Any]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        parts = path.strip("/").split("/")
        if parts[:3] == ["v1", "auth", "token"]:
            return self._token_api("/".join(parts[3:]), token, body)
        if self._entry(token, "/".join(parts[1:])) is None:
            return 403, {"errors": ["permission denied"]}
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
            def do_GET(self) -> None:
                vault.requests.append({"path": self.path, "headers": dict(self.headers)})
                status, answer = vault._answer(self.path, self.headers.get("X-Vault-Token"), {})
                self.reply(status, answer)

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
                if status == 204:
                    self.send_response(204)
                    self.end_headers()
                else:
                    self.reply(status, answer)

        return Handler


def _seconds(value: object) -> int:
    """A Vault duration: seconds as a number, or a string such as ``1260s``, ``21m``, ``1h``."""
    if isinstance(value, int | float):
        return int(value)
    text = str(value or "").strip()
    if not text:
        return 0
    unit = {"s": 1, "m": 60, "h": 3600}.get(text[-1])
    return int(text[:-1]) * unit if unit else int(text)


def assumed_roles(kms: MotoKms) -> list[dict[str, Any]]:
    """The sessions moto's STS handed out, as it keeps them (role, session name and policy,
    the credentials), read from moto's own state."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=kms.verify) if isinstance(kms.verify, str) else None
    with urllib.request.urlopen(f"{kms.url}/moto-api/data.json", context=context) as resp:
        state = json.load(resp)
    return list(state.get("sts", {}).get("AssumedRole", []))
