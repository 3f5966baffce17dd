"""Docker config credentials: inline auths, a credsStore, per-host helpers, and clear errors."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from lockgate.supply.docker_config import CredentialsError, credentials_for, store_credentials


def _helper(folder: Path, name: str, body: str) -> None:
    folder.mkdir(exist_ok=True)
    path = folder / f"docker-credential-{name}"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_inline_auth_under_a_url_key(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"me:pw:with:colons").decode()
    config.write_text(json.dumps({"auths": {"https://reg.example:5000": {"auth": auth}}}))
    assert credentials_for("reg.example:5000", config) == ("me", "pw:with:colons")
    assert credentials_for("other.example", config) is None


def test_creds_store_answers_and_not_found_falls_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    _helper(
        bin_dir,
        "store",
        'host=$(cat)\n[ "$host" = known.example ] && '
        'echo \'{"Username":"u","Secret":"s"}\' && exit 0\n'
        "echo 'credentials not found in native keychain'; exit 1\n",
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"inline:pw").decode()
    config.write_text(
        json.dumps({"credsStore": "store", "auths": {"fallback.example": {"auth": auth}}})
    )
    assert credentials_for("known.example", config) == ("u", "s")
    assert credentials_for("fallback.example", config) == ("inline", "pw")
    assert credentials_for("nowhere.example", config) is None


def test_a_missing_helper_and_a_broken_config_are_clear_errors(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"credHelpers": {"reg.example": "absent-helper-xyz"}}))
    with pytest.raises(CredentialsError, match=r"docker-credential-absent-helper-xyz.*not on PATH"):
        credentials_for("reg.example", config)
    config.write_text("{not json")
    with pytest.raises(CredentialsError, match="not a readable docker config"):
        credentials_for("reg.example", config)


def test_stored_credentials_are_read_back_and_other_entries_kept(tmp_path: Path) -> None:
    config = tmp_path / "docker" / "config.json"
    store_credentials("reg.example:5000", "ci", "first", config)
    config.write_text(
        json.dumps({**json.loads(config.read_text()), "credHelpers": {"gcr.io": "gcloud"}})
    )
    store_credentials("reg.example:5000", "ci", "second", config)
    store_credentials("other.example", "bot", "pw", config)
    assert credentials_for("reg.example:5000", config) == ("ci", "second")
    assert credentials_for("other.example", config) == ("bot", "pw")
    assert json.loads(config.read_text())["credHelpers"] == {"gcr.io": "gcloud"}
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert [p.name for p in config.parent.iterdir()] == ["config.json"]  # no temp file left


def test_storing_into_a_broken_config_is_refused_and_leaves_it(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text("{not json")
    with pytest.raises(CredentialsError, match=r"config.json: not a readable docker config"):
        store_credentials("reg.example", "ci", "pw", config)
    assert config.read_text() == "{not json"
