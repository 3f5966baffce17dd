"""Registry credentials the way the docker CLI stores them: ``$DOCKER_CONFIG/config.json`` (or
``~/.docker/config.json``) with inline ``auths``, a ``credsStore`` for every registry, or a
``credHelpers`` entry per registry. Helpers are run as ``docker-credential-NAME get`` with the
host on stdin; their answer never leaves this process."""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import subprocess
from pathlib import Path

from lockgate.errors import LockgateError

# The username docker uses for an identity (refresh) token: the secret is then that token, to be
# exchanged at the token server with grant_type=refresh_token, never sent as a password.
IDENTITY_TOKEN_USER = "<token>"


class CredentialsError(LockgateError):
    """The docker config or a credential helper could not give credentials."""


def config_path() -> Path:
    folder = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
    return Path(folder) / "config.json"


def _host_keys(host: str) -> list[str]:
    keys = [host, f"https://{host}", f"http://{host}", f"https://{host}/v1/", f"https://{host}/v2/"]
    if host in ("docker.io", "registry-1.docker.io", "index.docker.io"):
        keys.append("https://index.docker.io/v1/")
    return keys


def _from_helper(helper: str, host: str, path: Path) -> tuple[str, str] | None:
    program = f"docker-credential-{helper}"
    if shutil.which(program) is None:
        raise CredentialsError(
            f"{path}: credential helper {program!r} for {host} is not on PATH: install it or "
            "remove it from the config"
        )
    done = subprocess.run(
        [program, "get"], input=host.encode(), capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        if b"credentials not found" in done.stdout + done.stderr:
            return None
        raise CredentialsError(
            f"{program} could not read credentials for {host} (exit {done.returncode}): run "
            f"`docker login {host}` again"
        )
    try:
        answer = json.loads(done.stdout)
        return str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        raise CredentialsError(f"{program} gave no Username/Secret for {host}") from None


def _inline(entry: object, host: str, path: Path) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if entry.get("identitytoken"):
        # `docker login` against an OAuth2 token server stores a refresh token, no password
        return IDENTITY_TOKEN_USER, str(entry["identitytoken"])
    if entry.get("username") and entry.get("password"):
        return str(entry["username"]), str(entry["password"])
    if not entry.get("auth"):
        return None
    try:
        user, _, secret = base64.b64decode(str(entry["auth"])).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsError(
            f"{path}: auths[{host!r}].auth is not base64 of user:password: run "
            f"`docker login {host}` again"
        ) from None
    return user, secret


def credentials_for(host: str, path: Path | None = None) -> tuple[str, str] | None:
    """(username, secret) for ``host``, or ``None`` when the config holds nothing for it."""
    path = path or config_path()
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: not a readable docker config ({exc})") from None
    if not isinstance(config, dict):
        raise CredentialsError(f"{path}: not a readable docker config (not an object)")
    helpers = config.get("credHelpers") or {}
    auths = config.get("auths") or {}
    for key in _host_keys(host):
        if key in helpers:
            return _from_helper(str(helpers[key]), host, path)
    if config.get("credsStore"):
        found = _from_helper(str(config["credsStore"]), host, path)
        if found is not None:
            return found
    for key in _host_keys(host):
        found = _inline(auths.get(key), host, path)
        if found is not None:
            return found
    return None


def store_credentials(host: str, username: str, secret: str, path: Path | None = None) -> Path:
    """Write ``host``'s credentials into the docker config as ``docker login`` does (an inline
    ``auths`` entry), keeping every other entry; the file is replaced atomically and readable by
    its owner only. Needs no docker CLI, so a job image with Python alone can log in."""
    path = path or config_path()
    config: dict[str, object] = {}
    if path.is_file():
        try:
            loaded = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CredentialsError(f"{path}: not a readable docker config ({exc})") from None
        if not isinstance(loaded, dict):
            raise CredentialsError(f"{path}: not a readable docker config (not an object)")
        config = loaded
    auths = config.get("auths")
    auths = dict(auths) if isinstance(auths, dict) else {}
    token = base64.b64encode(f"{username}:{secret}".encode()).decode()
    auths[host] = {"auth": token}
    config["auths"] = auths
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(config, handle, indent=2)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path
