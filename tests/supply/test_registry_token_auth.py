"""The registry client against a real docker-registry 2.8 configured with ``auth: token`` and
the test token server (RS256 JWTs): pushes, pulls by digest, anonymous pulls, docker-config
credentials and helpers, and one clear error each for wrong credentials, a token without the
needed scope, and an expired token."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient, RegistryError
from lockgate.supply.registry_http import RegistryAccess

from .conftest import _need_registry
from .registry_server import RegistryServer
from .token_server import (
    ACCOUNTS,
    REFRESH_TOKENS,
    TokenServer,
    start_token_registry,
)

PASSWORD = ACCOUNTS["lockgate"][0]
(REFRESH,) = REFRESH_TOKENS


@pytest.fixture(scope="module")
def token_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RegistryServer, TokenServer]]:
    _need_registry(request.config)
    server, tokens = start_token_registry(tmp_path_factory.mktemp("registry-token"))
    yield server, tokens
    server.stop()
    tokens.stop()


def _client(server: RegistryServer, user: str = "", password: str = "") -> RegistryClient:
    assert server.tls is not None
    access = RegistryAccess(server.host, user, password, ca_file=server.tls[0])
    return RegistryClient(access, attempts=2, sleep=lambda s: None)


def _image(marker: str):
    return build_image(
        [layer_from_files({"base/os": b"base"}), layer_from_files({"app/m": marker.encode()})],
        labels={"dev.lockgate.model.version": marker},
    )


def test_push_and_pull_by_digest_with_credentials(token_registry) -> None:
    server, tokens = token_registry
    client = _client(server, "lockgate", PASSWORD)
    image = _image("push")
    ref = client.push_image(ImageRef.parse(f"{server.host}/team/app:v1"), image)
    assert ref.digest == image.digest
    reader = _client(server, "reader", ACCOUNTS["reader"][0])
    digest, manifest = reader.manifest(ref)
    assert digest == image.digest
    layers = manifest["layers"]
    assert isinstance(layers, list)
    blob_digest = layers[1]["digest"]
    assert reader.blob(ref, blob_digest) == next(
        b.data for b in image.blobs() if b.digest == blob_digest
    )
    assert reader.resolve(ImageRef.parse(f"{server.host}/team/app:v1")) == ref
    # the registry names a scope's actions in no fixed order
    granted = {
        (a["type"], a["name"], tuple(sorted(a["actions"])))
        for c in tokens.issued
        if c["sub"] == "lockgate"
        for a in c["access"]
    }
    assert ("repository", "team/app", ("pull", "push")) in granted


def test_anonymous_pull_of_a_public_repository(token_registry) -> None:
    server, tokens = token_registry
    pushed = _client(server, "lockgate", PASSWORD).push_image(
        ImageRef.parse(f"{server.host}/public/base:v1"), _image("public")
    )
    anonymous = _client(server)
    assert anonymous.resolve(ImageRef.parse(f"{server.host}/public/base:v1")) == pushed
    assert any(c["sub"] == "" and c["access"] for c in tokens.issued)


def test_credentials_from_docker_config_and_from_a_helper(
    token_registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = token_registry
    config = tmp_path / "docker"
    config.mkdir()
    token = base64.b64encode(f"lockgate:{PASSWORD}".encode()).decode()
    (config / "config.json").write_text(json.dumps({"auths": {server.host: {"auth": token}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    ref = _client(server).push_image(ImageRef.parse(f"{server.host}/cfg/app:v1"), _image("c"))
    assert ref.digest

    helper = tmp_path / "bin" / "docker-credential-lgtest"
    helper.parent.mkdir()
    answer = json.dumps({"ServerURL": server.host, "Username": "lockgate", "Secret": PASSWORD})
    helper.write_text(
        f'#!/bin/sh\n[ "$1" = get ] && [ "$(cat)" = "{server.host}" ] && echo \'{answer}\'\n'
    )
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    (config / "config.json").write_text(json.dumps({"credHelpers": {server.host: "lgtest"}}))
    ref = _client(server).push_image(ImageRef.parse(f"{server.host}/helper/app:v1"), _image("h"))
    assert ref.digest == _image("h").digest


def test_an_identity_token_from_docker_config_is_exchanged_not_sent(
    token_registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, tokens = token_registry
    config = tmp_path / "docker"
    config.mkdir()
    entry = {"auth": base64.b64encode(b"<token>:").decode(), "identitytoken": REFRESH}
    (config / "config.json").write_text(json.dumps({"auths": {server.host: entry}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    before = len(tokens.issued)
    ref = _client(server).push_image(ImageRef.parse(f"{server.host}/idt/app:v1"), _image("i"))
    assert ref.digest == _image("i").digest
    granted = [c for c in tokens.issued[before:] if c["sub"] == "lockgate"]
    # the registry asks for the scope's actions in either order
    assert ("repository", "idt/app", ["pull", "push"]) in [
        (a["type"], a["name"], sorted(a["actions"])) for c in granted for a in c["access"]
    ]

    entry["identitytoken"] = "revoked-refresh-token"
    (config / "config.json").write_text(json.dumps({"auths": {server.host: entry}}))
    message = _error(_client(server), f"{server.host}/idt/app:v1")
    assert message.startswith(f"registry {server.host}: the token server ")
    assert "refused the credentials (the identity token from the docker config, HTTP 401)" in (
        message
    )
    assert "revoked-refresh-token" not in message


def _error(client: RegistryClient, ref: str) -> str:
    with pytest.raises(RegistryError) as err:
        client.push_image(ImageRef.parse(ref), _image("refused"))
    message = str(err.value)
    assert "\n" not in message and PASSWORD not in message
    return message


def test_wrong_credentials_are_one_clear_error(token_registry) -> None:
    server, tokens = token_registry
    message = _error(_client(server, "lockgate", "wrong-pass"), f"{server.host}/team/app:v2")
    assert message.startswith(f"registry {server.host}: the token server {tokens.realm} refused")
    assert "user 'lockgate', HTTP 401" in message and "wrong-pass" not in message


def test_a_token_without_push_scope_is_one_clear_error(token_registry) -> None:
    server, _ = token_registry
    reader = _client(server, "reader", ACCOUNTS["reader"][0])
    message = _error(reader, f"{server.host}/team/app:v3")
    # The registry names the actions in no fixed order.
    assert re.match(
        rf"registry {re.escape(server.host)}: the token for user 'reader' does not grant "
        r"repository:team/app:(pull,push|push,pull) while uploading blob",
        message,
    ), message
    anonymous = _error(_client(server), f"{server.host}/team/app:v3")
    assert re.search(
        r"the token for anonymous does not grant repository:team/app:(pull|push)", anonymous
    ), anonymous


def test_an_expired_token_is_one_clear_error(token_registry) -> None:
    server, tokens = token_registry
    tokens.expired = True
    try:
        message = _error(_client(server, "lockgate", PASSWORD), f"{server.host}/team/app:v4")
    finally:
        tokens.expired = False
    assert message.startswith(
        f"registry {server.host} rejected the token from {tokens.realm} as expired or invalid"
    )


def test_sign_and_verify_through_token_auth(
    token_registry, cosign, key_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    """The real cosign signs through the token server and lockgate's verify reads the
    signature back through it: both halves of verify speak token auth."""
    from lockgate.supply.cosign import CosignClient, KeyPairSigner
    from lockgate.supply.verify import VerifyPolicy, verify_image

    from .conftest import KEY_PASSWORD

    server, tokens = token_registry
    assert server.tls is not None
    access = RegistryAccess(server.host, "lockgate", PASSWORD, ca_file=server.tls[0])
    ref = RegistryClient(access).push_image(
        ImageRef.parse(f"{server.host}/signed/app:v1"), _image("signed")
    )
    client = CosignClient(cosign, tmp_path / "tuf", access)
    client.sign(ref, KeyPairSigner(str(key_pair[0]), KEY_PASSWORD))
    policy = VerifyPolicy.model_validate({"key": str(key_pair[1]), "require": []})
    report = verify_image(
        f"{ref.name}:v1@{ref.digest}", policy, cosign=client, registry=RegistryClient(access)
    )
    assert report.passed, report.render()
    assert {r.name for r in report.requirements} >= {"tag", "signature"}
    reader = RegistryAccess(server.host, "reader", ACCOUNTS["reader"][0], ca_file=server.tls[0])
    report = verify_image(
        str(ref),
        policy,
        cosign=CosignClient(cosign, tmp_path / "tuf2", reader),
        registry=RegistryClient(reader),
    )
    assert report.passed, report.render()  # verifying needs only pull
    reader_grants = [c["access"] for c in tokens.issued if c["sub"] == "reader"]
    assert [{"type": "repository", "name": "signed/app", "actions": ["pull"]}] in reader_grants
