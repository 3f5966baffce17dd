"""The OCI push client against real docker-registry processes."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import build_image, layer_from_files
from lockgate.supply.registry import RegistryClient, RegistryError
from lockgate.supply.registry_http import HttpAnswer, RegistryAccess, urllib_transport

from .registry_server import RegistryServer, free_port


def _image(marker: str):
    return build_image(
        [layer_from_files({"base/os": b"base"}), layer_from_files({"app/marker": marker.encode()})],
        labels={"dev.lockgate.model.version": marker},
    )


def test_push_and_resolve_on_plain_registry(plain_registry: RegistryServer) -> None:
    client = RegistryClient(plain_registry.access())
    ref = client.push_image(ImageRef.parse(f"{plain_registry.host}/reg/app:v1"), _image("1"))
    assert ref.digest == _image("1").digest
    assert client.resolve(ImageRef.parse(f"{plain_registry.host}/reg/app:v1")) == ref
    digest, manifest = client.manifest(ref)
    assert digest == ref.digest and len(manifest["layers"]) == 2


def test_push_over_tls_with_basic_auth(tls_registry: RegistryServer) -> None:
    client = RegistryClient(tls_registry.access())
    ref = client.push_image(ImageRef.parse(f"{tls_registry.host}/reg/app:v1"), _image("2"))
    assert client.resolve(ImageRef.parse(f"{tls_registry.host}/reg/app:v1")).digest == ref.digest


def test_wrong_credentials_are_one_clear_error(tls_registry: RegistryServer) -> None:
    client = RegistryClient(tls_registry.access(password="not-the-password"))
    with pytest.raises(RegistryError) as err:
        client.push_image(ImageRef.parse(f"{tls_registry.host}/reg/app:v1"), _image("3"))
    message = str(err.value)
    assert message.startswith(
        f"registry {tls_registry.host} refused the credentials (user 'lockgate', HTTP 401)"
    )
    assert "not-the-password" not in message and "\n" not in message


def test_untrusted_certificate_is_reported_not_retried_forever(
    tls_registry: RegistryServer,
) -> None:
    access = RegistryAccess(tls_registry.host, "lockgate", "x")  # no CA given
    client = RegistryClient(access, attempts=2, sleep=lambda s: None)
    with pytest.raises(RegistryError, match="failed after 2 attempts: cannot reach"):
        client.resolve(ImageRef.parse(f"{tls_registry.host}/reg/app:v1"))


def test_registry_that_dies_mid_push_gives_bounded_retries_and_a_clear_error(
    tmp_path: Path,
) -> None:
    server = RegistryServer(tmp_path / "dying", free_port()).start()
    try:
        real = urllib_transport(server.access())
        puts: list[str] = []

        def transport(request: urllib.request.Request) -> HttpAnswer:
            answer = real(request)
            if request.get_method() == "PUT":
                puts.append(request.full_url)
                server.kill()  # the first blob landed; the registry now goes away
            return answer

        waits: list[float] = []
        client = RegistryClient(
            server.access(), transport=transport, attempts=3, backoff_s=0.1, sleep=waits.append
        )
        with pytest.raises(RegistryError) as err:
            client.push_image(ImageRef.parse(f"{server.host}/reg/app:v1"), _image("4"))
        assert len(puts) == 1
        assert waits == [0.1, 0.2]
        assert str(err.value).startswith("checking sha256:")
        assert f"failed after 3 attempts: cannot reach http://{server.host}" in str(err.value)
    finally:
        server.stop()


def test_missing_image_is_named(plain_registry: RegistryServer) -> None:
    client = RegistryClient(plain_registry.access())
    with pytest.raises(RegistryError, match="no such image"):
        client.manifest(ImageRef.parse(f"{plain_registry.host}/reg/none:v9"))


INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def test_tag_digest_of_a_multi_platform_tag_is_its_index(plain_registry: RegistryServer) -> None:
    """What a pin must name: the index a multi-platform tag points at, so that every platform
    stays pinned, not the one platform's manifest the client happens to match."""
    import hashlib
    import json

    client = RegistryClient(plain_registry.access())
    amd64 = client.push_image(ImageRef.parse(f"{plain_registry.host}/reg/multi:amd64"), _image("a"))
    arm64 = client.push_image(ImageRef.parse(f"{plain_registry.host}/reg/multi:arm64"), _image("b"))
    manifests = [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": ref.digest,
            "size": len(_image(marker).manifest),
            "platform": {"architecture": arch, "os": "linux"},
        }
        for ref, marker, arch in ((amd64, "a", "amd64"), (arm64, "b", "arm64"))
    ]
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests}
    ).encode()
    tag = ImageRef.parse(f"{plain_registry.host}/reg/multi:1.0")
    client.push_manifest(tag, index, INDEX_TYPE, "1.0")

    digest = client.tag_digest(tag)
    assert digest == "sha256:" + hashlib.sha256(index).hexdigest()
    assert digest not in (amd64.digest, arm64.digest)


def test_tag_digest_without_the_digest_header_reads_the_manifest(
    plain_registry: RegistryServer,
) -> None:
    """A registry (or proxy) that drops ``Docker-Content-Digest``: the digest is computed from
    the manifest the registry serves instead."""
    client = RegistryClient(plain_registry.access())
    pushed = client.push_image(ImageRef.parse(f"{plain_registry.host}/reg/bare:v1"), _image("h"))
    send = urllib_transport(plain_registry.access())
    seen: list[str] = []

    def without_digest_header(request: urllib.request.Request) -> HttpAnswer:
        answer = send(request)
        seen.append(request.get_method())
        headers = {k: v for k, v in answer.headers.items() if k.lower() != "docker-content-digest"}
        return HttpAnswer(answer.status, headers, answer.body)

    stripped = RegistryClient(plain_registry.access(), transport=without_digest_header)
    assert (
        stripped.tag_digest(ImageRef.parse(f"{plain_registry.host}/reg/bare:v1")) == pushed.digest
    )
    assert seen == ["HEAD", "GET"]
    with pytest.raises(RegistryError, match="no such image"):
        stripped.tag_digest(ImageRef.parse(f"{plain_registry.host}/reg/bare:v2"))
