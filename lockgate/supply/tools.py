"""Find the trivy and cosign binaries, and refuse a trivy that is not the pinned build.

Search order for each tool: its environment variable (``LOCKGATE_TRIVY`` / ``LOCKGATE_COSIGN``),
then the tools folder (``LOCKGATE_TOOLS_DIR``, default ``/usr/local/lib/lockgate-tools/bin``),
then ``PATH``. trivy is checked against a pinned sha256 before every use; the check is cached by
(path, mtime, size) so a scan does not hash 200 MB each time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lockgate.errors import LockgateError

TRIVY_VERSION = "0.59.1"
TRIVY_SHA256 = "45925bac2d4d1574d059b078e80d362ad9713487293b1f8c12ddc2859b75d4a2"
DEFAULT_TOOLS_DIR = "/usr/local/lib/lockgate-tools/bin"


class ToolMissing(LockgateError):
    """A required binary is not installed where lockgate looks for it."""


class ToolRefused(LockgateError):
    """A binary exists but is not the build lockgate trusts."""


def locate(name: str, env_var: str, env: Mapping[str, str] | None = None) -> Path:
    """The path of tool ``name``: ``$env_var``, then the tools folder, then PATH."""
    env = os.environ if env is None else env
    explicit = env.get(env_var, "")
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ToolMissing(f"{env_var}={explicit} is not an executable file: fix or unset it")
        return path
    in_dir = Path(env.get("LOCKGATE_TOOLS_DIR", DEFAULT_TOOLS_DIR)) / name
    if in_dir.is_file() and os.access(in_dir, os.X_OK):
        return in_dir
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    if found:
        return Path(found)
    raise ToolMissing(
        f"{name} not found (looked at ${env_var}, {in_dir.parent}, PATH): "
        f"install it or set {env_var}"
    )


@dataclass
class PinnedDigest:
    """Checks a file's sha256 against a pin, remembering results by (path, mtime, size)."""

    sha256: str
    _seen: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def check(self, path: Path, what: str) -> None:
        st = path.stat()
        key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
        actual = self._seen.get(key)
        if actual is None:
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            actual = digest.hexdigest()
            self._seen[key] = actual
        if actual != self.sha256:
            raise ToolRefused(
                f"{what} at {path} has sha256 {actual}, not the pinned {self.sha256}: "
                f"refusing to run it; install trivy {TRIVY_VERSION} from the pinned build"
            )


TRIVY_PIN = PinnedDigest(TRIVY_SHA256)


@dataclass(frozen=True)
class Trivy:
    path: Path

    def argv(self, *args: str) -> list[str]:
        """The command line, after checking the binary against the pin (cached)."""
        TRIVY_PIN.check(self.path, "trivy")
        return [str(self.path), *args]


def find_trivy(env: Mapping[str, str] | None = None) -> Trivy:
    trivy = Trivy(locate("trivy", "LOCKGATE_TRIVY", env))
    TRIVY_PIN.check(trivy.path, "trivy")
    return trivy


@dataclass(frozen=True)
class Cosign:
    path: Path
    version: str  # e.g. "2.5.0"

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    def no_tlog_flags(self) -> list[str]:
        """Flags for sign/attest without a transparency log (private registries, offline)."""
        flags = ["--tlog-upload=false"]
        if self.major >= 3:
            flags.append("--use-signing-config=false")
        return flags


_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def cosign_version(path: Path, env: Mapping[str, str] | None = None) -> str:
    """``cosign version --json``'s gitVersion; for builds that say ``devel`` (Debian's), the
    installed package's version; ``LOCKGATE_COSIGN_VERSION`` overrides both."""
    env = os.environ if env is None else env
    override = env.get("LOCKGATE_COSIGN_VERSION", "")
    candidates = [override] if override else []
    if not override:
        try:
            out = subprocess.run(
                [str(path), "version", "--json"], capture_output=True, text=True, timeout=30
            ).stdout
            candidates.append(str(json.loads(out).get("gitVersion", "")))
        except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError, AttributeError):
            pass
        if shutil.which("dpkg-query"):
            res = subprocess.run(
                ["dpkg-query", "-W", "-f", "${Version}", "cosign"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            candidates.append(res.stdout if res.returncode == 0 else "")
    for text in candidates:
        match = _SEMVER.match(text.strip())
        if match:
            return ".".join(match.groups())
    raise ToolMissing(
        f"cannot tell the version of cosign at {path} (it says 'devel' and no package records "
        "it): set LOCKGATE_COSIGN_VERSION, e.g. 2.5.0"
    )


def find_cosign(env: Mapping[str, str] | None = None) -> Cosign:
    path = locate("cosign", "LOCKGATE_COSIGN", env)
    return Cosign(path, cosign_version(path, env))
