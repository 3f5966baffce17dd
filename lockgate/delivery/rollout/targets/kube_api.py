"""A small Kubernetes API client: server-side apply of one object, reading one back, merge
patches, deleting one.

Only what the Kubernetes target needs, over the API's plain HTTP(S) + JSON: ``PATCH`` with
``application/apply-patch+yaml`` (JSON is YAML) and ``fieldManager=lockgate``, ``PATCH`` with
``application/merge-patch+json``, ``GET`` and ``DELETE``.
The bearer token is read from a file per request and never logged or recorded.
"""

from __future__ import annotations

import contextlib
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lockgate.errors import LockgateError

PLURALS = {
    "Deployment": "deployments",
    "Service": "services",
    "Rollout": "rollouts",
    "AnalysisTemplate": "analysistemplates",
    "AnalysisRun": "analysisruns",
    "HTTPRoute": "httproutes",
}


class KubernetesApiError(LockgateError):
    """The API server refused a request or could not be reached."""


def object_path(api_version: str, kind: str, namespace: str, name: str) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    return f"{base}/namespaces/{namespace}/{PLURALS[kind]}/{name}"


class KubernetesApi:
    def __init__(
        self,
        server: str,
        token_file: Path | None = None,
        ca_file: Path | None = None,
        timeout_s: float = 15.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.token_file = token_file
        self.context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str, body: bytes | None, kind: str | None) -> Any:
        request = urllib.request.Request(self.server + path, data=body, method=method)
        request.add_header("Accept", "application/json")
        if kind:
            request.add_header("Content-Type", kind)
        if self.token_file is not None:
            request.add_header("Authorization", f"Bearer {self.token_file.read_text().strip()}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=self.context) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            with contextlib.suppress(ValueError, AttributeError):  # not a Status object
                detail = json.loads(detail).get("message", detail)
            raise KubernetesApiError(f"{method} {path}: HTTP {error.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise KubernetesApiError(
                f"{method} {path}: {self.server} unreachable: {reason}"
            ) from None

    def apply(self, document: dict[str, Any]) -> Any:
        meta = document["metadata"]
        path = object_path(
            document["apiVersion"], document["kind"], meta["namespace"], meta["name"]
        )
        body = json.dumps(document, sort_keys=True).encode()
        return self._call(
            "PATCH",
            f"{path}?fieldManager=lockgate&force=true",
            body,
            "application/apply-patch+yaml",
        )

    def merge(self, api_version: str, kind: str, namespace: str, name: str, patch: Any) -> Any:
        """A JSON merge patch of the object."""
        path = object_path(api_version, kind, namespace, name)
        body = json.dumps(patch, sort_keys=True).encode()
        return self._call("PATCH", path, body, "application/merge-patch+json")

    def merge_status(
        self, api_version: str, kind: str, namespace: str, name: str, patch: Any
    ) -> Any:
        """A JSON merge patch of the object's ``status`` subresource."""
        path = object_path(api_version, kind, namespace, name) + "/status"
        body = json.dumps(patch, sort_keys=True).encode()
        return self._call("PATCH", path, body, "application/merge-patch+json")

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete one object; one already gone is not an error."""
        try:
            self._call("DELETE", object_path(api_version, kind, namespace, name), None, None)
        except KubernetesApiError as error:
            if "HTTP 404" not in str(error):
                raise

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Any:
        return self._call("GET", object_path(api_version, kind, namespace, name), None, None)
