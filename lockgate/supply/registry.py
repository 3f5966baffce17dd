"""A small OCI distribution client: push images with bounded retries, read manifests.

Speaks the registry HTTP API directly (``/v2/...``) over urllib, so no container engine or extra
binary is needed to move an image. It answers what the registry asks for: a ``Bearer``
challenge gets a token from the registry's token server (anonymous, or with credentials), a
``Basic`` challenge gets the credentials. Credentials come from the caller or, when none are
given, from the docker config. TLS is verified (system CAs plus an optional private CA).
Connection failures and 5xx answers are retried a bounded number of times with backoff; a
refusal is reported at once, naming the registry and what to do.
"""

from __future__ import annotations

import json
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.loopback import is_loopback_host, require_plain_http_loopback
from lockgate.retrying import AttemptsExhausted, Backoff, TryAgain, retry
from lockgate.supply.docker_config import credentials_for
from lockgate.supply.image_ref import ImageRef
from lockgate.supply.oci_image import MANIFEST_TYPE, Blob, Image, sha256_digest
from lockgate.supply.registry_auth import (
    RegistryError,
    TokenSource,
    basic_header,
    parse_challenge,
)

__all__ = ["HttpAnswer", "RegistryAccess", "RegistryClient", "RegistryError", "urllib_transport"]

MANIFEST_ACCEPT = ", ".join(
    [
        MANIFEST_TYPE,
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


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


def is_loopback(host: str) -> bool:
    """Whether a registry host (``NAME[:PORT]``) is on this machine's loopback interface (one
    rule for every plain-HTTP decision: :mod:`lockgate.loopback`; ``127.evil.example`` is not)."""
    return is_loopback_host(host)


def plain_http_hint(host: str, what: str) -> str:
    if is_loopback(host):
        return (
            f"registry {host} answers plain HTTP, not HTTPS, while {what}: for a local test "
            "registry pass --plain-http (promote, rollback, verify) or set "
            "LOCKGATE_VERIFY_PLAIN_HTTP=1"
        )
    return (
        f"registry {host} answers plain HTTP, not HTTPS, while {what}: plain HTTP is allowed "
        "only for a registry on loopback (127.0.0.1, localhost); serve this one with TLS"
    )


def require_loopback_for_plain_http(access: RegistryAccess) -> None:
    if access.plain_http and not is_loopback(access.host):
        raise RegistryError(
            f"--plain-http: registry {access.host} is not on loopback (127.0.0.1, localhost, "
            "[::1]); plain HTTP would send credentials and images unprotected: serve it with TLS"
        )


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
        user, password = self.access.username, self.access.password
        if not user:
            user, password = credentials_for(self.access.host) or ("", "")
        self._user, self._password = user, password
        self._auth: str | None = None  # the Authorization value the registry last accepted
        self._tokens = TokenSource(self.access.host, user, password, self._fetch)

    # -- low level ---------------------------------------------------------------------------
    def _fetch(self, request: urllib.request.Request) -> tuple[int, bytes]:
        assert self.transport is not None
        answer = self.transport(request)
        return answer.status, answer.body

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        auth: str | None,
    ) -> HttpAnswer:
        assert self.transport is not None
        all_headers = dict(headers)
        if auth:
            all_headers["Authorization"] = auth
        return self.transport(
            urllib.request.Request(url, data=body, method=method, headers=all_headers)
        )

    def _authorized(
        self, method: str, url: str, body: bytes | None, headers: Mapping[str, str], what: str
    ) -> HttpAnswer:
        """Send once; on a challenge, authenticate as asked and send once more."""
        answer = self._send(method, url, body, headers, self._auth)
        if answer.status != 401:
            return self._checked(answer, what)
        challenge = parse_challenge(_header(answer, "WWW-Authenticate"))
        if challenge is not None and challenge.scheme == "bearer":
            auth = "Bearer " + self._tokens.token(challenge, fresh=True)
            answer = self._send(method, url, body, headers, auth)
            if answer.status == 401:
                again = parse_challenge(_header(answer, "WWW-Authenticate")) or challenge
                raise self._tokens.refusal(again, what)
        elif challenge is not None and challenge.scheme == "basic" and self._user:
            auth = basic_header(self._user, self._password)
            answer = self._send(method, url, body, headers, auth)
        else:
            auth = None
        if answer.status != 401:
            self._auth = auth
        return self._checked(answer, what)

    def _checked(self, answer: HttpAnswer, what: str) -> HttpAnswer:
        if answer.status in (401, 403):
            raise RegistryError(
                f"registry {self.access.host} refused the credentials ({self._tokens.who()}, "
                f"HTTP {answer.status}) while {what}: check the registry username/password "
                f"(or run `docker login {self.access.host}`)"
            )
        return answer

    def _call(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        what: str,
    ) -> HttpAnswer:
        def attempt(_: int) -> HttpAnswer:
            try:
                answer = self._authorized(method, url, body, headers or {}, what)
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                if "WRONG_VERSION_NUMBER" in str(reason):  # TLS spoken to a plain-HTTP server
                    raise RegistryError(plain_http_hint(self.access.host, what)) from None
                raise TryAgain(f"cannot reach {self.access.base_url} ({reason})") from None
            if answer.status >= 500:
                raise TryAgain(f"HTTP {answer.status} from {self.access.host}")
            return answer

        try:
            return retry(attempt, Backoff(self.attempts, self.backoff_s, sleep=self.sleep))
        except AttemptsExhausted as exc:
            last = exc.last
            raise RegistryError(f"{what} failed after {exc.attempts} attempts: {last}") from None

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

    def find(self, ref: ImageRef) -> ImageRef | None:
        """``ref`` pinned by the digest its tag points at, or ``None`` when the registry does not
        hold it (a missing tag or repository); any other failure is an error."""
        what = f"looking for {ref}"
        answer = self._call(
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
        answer = self._call(
            "HEAD",
            self._url(ref, f"manifests/{ref.tag or 'latest'}"),
            headers={"Accept": MANIFEST_ACCEPT},
            what=what,
        )
        if answer.status == 404:
            raise RegistryError(f"{ref}: no such image in {self.access.host}; check name and tag")
        if answer.status != 200:
            raise RegistryError(f"{what}: HTTP {answer.status}")
        digest = _header(answer, "Docker-Content-Digest")
        if not digest:
            return self.manifest(ref)[0]
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            raise RegistryError(f"{what}: the registry sent digest {digest!r}, not sha256:<hex>")
        return digest

    def resolve(self, ref: ImageRef) -> ImageRef:
        """The digest a tag points at right now."""
        return ref.with_digest(self.manifest(ref)[0])


def _header(answer: HttpAnswer, name: str) -> str:
    wanted = name.lower()
    return next((v for k, v in answer.headers.items() if k.lower() == wanted), "")
