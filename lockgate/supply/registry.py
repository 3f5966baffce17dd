"""A small OCI distribution client: push images with bounded retries, read manifests.

Speaks the registry HTTP API directly (``/v2/...``) over urllib, with HTTP basic auth and a
custom CA, so no container engine or extra binary is needed to move an image. Connection
failures and 5xx answers are retried a bounded number of times with backoff; a 401/403 is
reported at once as a credentials problem.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.errors import LockgateError
from lockgate.loopback import require_plain_http_loopback
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import MANIFEST_TYPE, Blob, Image, sha256_digest

MANIFEST_ACCEPT = ", ".join(
    [
        MANIFEST_TYPE,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class RegistryError(LockgateError):
    """The registry refused, failed, or could not be reached."""


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach one registry: scheme, credentials, CA. Passwords never appear in repr."""

    host: str
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    plain_http: bool = False

    def __post_init__(self) -> None:
        if self.plain_http:
            require_plain_http_loopback(self.host, "registry")

    @property
    def base_url(self) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.host}"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


Transport = Callable[[urllib.request.Request], HttpAnswer]


def urllib_transport(access: RegistryAccess, timeout: float = 30.0) -> Transport:
    context = ssl.create_default_context()
    if access.ca_file is not None:
        context.load_verify_locations(cafile=str(access.ca_file))
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))

    def send(request: urllib.request.Request) -> HttpAnswer:
        try:
            with opener.open(request, timeout=timeout) as resp:
                return HttpAnswer(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as exc:
            return HttpAnswer(exc.code, dict(exc.headers.items()), exc.read())

    return send


@dataclass
class RegistryClient:
    access: RegistryAccess
    transport: Transport | None = None
    attempts: int = 4
    backoff_s: float = 0.2
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        if self.transport is None:
            self.transport = urllib_transport(self.access)

    # -- low level ---------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str,
    ) -> HttpAnswer:
        all_headers = dict(headers or {})
        if self.access.username:
            token = f"{self.access.username}:{self.access.password}".encode()
            all_headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        assert self.transport is not None
        last = ""
        for attempt in range(1, self.attempts + 1):
            request = urllib.request.Request(url, data=body, method=method, headers=all_headers)
            try:
                answer = self.transport(request)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"cannot reach {self.access.base_url} ({reason})"
            else:
                if answer.status in (401, 403):
                    who = f"user {self.access.username!r}" if self.access.username else "no user"
                    raise RegistryError(
                        f"registry {self.access.host} refused the credentials ({who}, HTTP "
                        f"{answer.status}) while {what}: check the registry username/password"
                    )
                if answer.status < 500:
                    return answer
                last = f"HTTP {answer.status} from {self.access.host}"
            if attempt < self.attempts:
                self.sleep(self.backoff_s * 2 ** (attempt - 1))
        raise RegistryError(f"{what} failed after {self.attempts} attempts: {last}")

    def _url(self, ref: ImageRef, suffix: str) -> str:
        return f"{self.access.base_url}/v2/{ref.repository}/{suffix}"

    # -- blobs and manifests ----------------------------------------------------------------
    def has_blob(self, ref: ImageRef, digest: str) -> bool:
        answer = self._call("HEAD", self._url(ref, f"blobs/{digest}"), what=f"checking {digest}")
        return answer.status == 200

    def push_blob(self, ref: ImageRef, blob: Blob) -> None:
        if self.has_blob(ref, blob.digest):
            return
        what = f"uploading blob {blob.digest[:19]} to {ref.name}"
        start = self._call("POST", self._url(ref, "blobs/uploads/"), what=what)
        if start.status != 202 or "Location" not in start.headers:
            raise RegistryError(f"{what}: registry answered HTTP {start.status}")
        location = urllib.parse.urljoin(self.access.base_url, start.headers["Location"])
        sep = "&" if "?" in location else "?"
        done = self._call(
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
        answer = self._call(
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
        answer = self._call(
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
        answer = self._call("GET", self._url(ref, f"blobs/{digest}"), what=f"reading {digest}")
        if answer.status != 200 or sha256_digest(answer.body) != digest:
            raise RegistryError(f"{ref.name}: blob {digest} missing or corrupt")
        return answer.body

    def resolve(self, ref: ImageRef) -> ImageRef:
        """The digest a tag points at right now."""
        return ref.with_digest(self.manifest(ref)[0])
