"""A small OCI distribution client: push images (blobs, then the manifest), read manifests and
blobs, find what a tag points at.

Speaks the registry HTTP API directly (``/v2/...``) over urllib, so no container engine or extra
binary is needed to move an image. How each request reaches the registry (TLS, credentials, token
challenges, bounded retries) is :mod:`lockgate.supply.registry_http`.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import MANIFEST_TYPE, Blob, Image, sha256_digest
from lockgate.supply.registry_auth import RegistryError
from lockgate.supply.registry_http import RegistryAccess, RegistrySession, Transport, header

__all__ = ["RegistryClient", "RegistryError"]

MANIFEST_ACCEPT = ", ".join(
    [
        MANIFEST_TYPE,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@dataclass
class RegistryClient:
    """Blobs and manifests of one registry (the distribution API's ``/v2/`` calls)."""

    access: RegistryAccess
    transport: Transport | None = None
    attempts: int = 4
    backoff_s: float = 0.2
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._session = RegistrySession(
            self.access,
            self.transport,
            attempts=self.attempts,
            backoff_s=self.backoff_s,
            sleep=self.sleep,
        )

    def _url(self, ref: ImageRef, suffix: str) -> str:
        return f"{self.access.base_url}/v2/{ref.repository}/{suffix}"

    # -- blobs and manifests ----------------------------------------------------------------
    def has_blob(self, ref: ImageRef, digest: str) -> bool:
        answer = self._session.call(
            "HEAD", self._url(ref, f"blobs/{digest}"), what=f"checking {digest}"
        )
        return answer.status == 200

    def push_blob(self, ref: ImageRef, blob: Blob) -> None:
        if self.has_blob(ref, blob.digest):
            return
        what = f"uploading blob {blob.digest[:19]} to {ref.name}"
        start = self._session.call("POST", self._url(ref, "blobs/uploads/"), what=what)
        if start.status != 202 or "Location" not in start.headers:
            raise RegistryError(f"{what}: registry answered HTTP {start.status}")
        location = urllib.parse.urljoin(self.access.base_url, start.headers["Location"])
        sep = "&" if "?" in location else "?"
        done = self._session.call(
            "PUT",
            f"{location}{sep}digest={blob.digest}",
            body=blob.data,
            headers={"Content-Type": "application/octet-stream"},
            what=what,
        )
        if done.status != 201:
            raise RegistryError(f"{what}: registry answered HTTP {done.status}")

    def push_manifest(self, ref: ImageRef, manifest: bytes, media_type: str, tag: str) -> str:
        what = f"pushing manifest {ref.name}:{tag}"
        answer = self._session.call(
            "PUT",
            self._url(ref, f"manifests/{tag}"),
            body=manifest,
            headers={"Content-Type": media_type},
            what=what,
        )
        if answer.status != 201:
            raise RegistryError(f"{what}: HTTP {answer.status}: {answer.body[:200]!r}")
        return sha256_digest(manifest)

    def push_image(self, ref: ImageRef, image: Image) -> ImageRef:
        """Push every blob, then the manifest under ``ref.tag`` (or its digest); returns the
        reference pinned by digest."""
        for blob in image.blobs():
            self.push_blob(ref, blob)
        tag = ref.tag or image.digest
        digest = self.push_manifest(ref, image.manifest, MANIFEST_TYPE, tag)
        return ref.with_digest(digest)

    def manifest(self, ref: ImageRef) -> tuple[str, dict[str, object]]:
        """(digest, parsed manifest) of ``ref`` by tag or digest."""
        what = f"reading manifest of {ref}"
        answer = self._session.call(
            "GET",
            self._url(ref, f"manifests/{ref.digest or ref.tag or 'latest'}"),
            headers={"Accept": MANIFEST_ACCEPT},
            what=what,
        )
        if answer.status == 404:
            raise RegistryError(f"{ref}: no such image in {self.access.host}")
        if answer.status != 200:
            raise RegistryError(f"{what}: HTTP {answer.status}")
        digest = sha256_digest(answer.body)
        if ref.digest and digest != ref.digest:
            raise RegistryError(f"{ref}: registry served a manifest with digest {digest}")
        return digest, json.loads(answer.body)

    def blob(self, ref: ImageRef, digest: str) -> bytes:
        answer = self._session.call(
            "GET", self._url(ref, f"blobs/{digest}"), what=f"reading {digest}"
        )
        if answer.status != 200 or sha256_digest(answer.body) != digest:
            raise RegistryError(f"{ref.name}: blob {digest} missing or corrupt")
        return answer.body

    def find(self, ref: ImageRef) -> ImageRef | None:
        """``ref`` pinned by the digest its tag points at, or ``None`` when the registry does not
        hold it (a missing tag or repository); any other failure is an error."""
        what = f"looking for {ref}"
        answer = self._session.call(
            "HEAD",
            self._url(ref, f"manifests/{ref.digest or ref.tag or 'latest'}"),
            headers={"Accept": MANIFEST_ACCEPT},
            what=what,
        )
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise RegistryError(f"{what}: HTTP {answer.status}")
        return self.resolve(ref)

    def tag_digest(self, ref: ImageRef) -> str:
        """The digest ``ref``'s tag points at, from one HEAD request, as the registry reports it
        in ``Docker-Content-Digest`` (for a multi-platform image: its index, not one platform's
        manifest). A registry that leaves the header out is asked with GET instead."""
        what = f"looking up the digest of {ref}"
        answer = self._session.call(
            "HEAD",
            self._url(ref, f"manifests/{ref.tag or 'latest'}"),
            headers={"Accept": MANIFEST_ACCEPT},
            what=what,
        )
        if answer.status == 404:
            raise RegistryError(f"{ref}: no such image in {self.access.host}; check name and tag")
        if answer.status != 200:
            raise RegistryError(f"{what}: HTTP {answer.status}")
        digest = header(answer, "Docker-Content-Digest")
        if not digest:
            return self.manifest(ref)[0]
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise RegistryError(f"{what}: the registry sent digest {digest!r}, not sha256:<hex>")
        return digest

    def resolve(self, ref: ImageRef) -> ImageRef:
        """The digest a tag points at right now."""
        return ref.with_digest(self.manifest(ref)[0])
