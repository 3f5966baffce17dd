"""Locating trivy/cosign and refusing a trivy that is not the pinned build."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lockgate.supply.tools import (
    TRIVY_SHA256,
    Cosign,
    PinnedDigest,
    ToolMissing,
    ToolRefused,
    Trivy,
    cosign_version,
    find_trivy,
    locate,
)


def _executable(path: Path, text: str = "#!/bin/sh\necho fake\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_lookup_order_env_then_tools_dir_then_path(tmp_path: Path) -> None:
    env_tool = _executable(tmp_path / "env" / "trivy")
    dir_tool = _executable(tmp_path / "tools" / "trivy")
    path_tool = _executable(tmp_path / "path" / "trivy")
    env = {
        "LOCKGATE_TRIVY": str(env_tool),
        "LOCKGATE_TOOLS_DIR": str(dir_tool.parent),
        "PATH": str(path_tool.parent),
    }
    assert locate("trivy", "LOCKGATE_TRIVY", env) == env_tool
    del env["LOCKGATE_TRIVY"]
    assert locate("trivy", "LOCKGATE_TRIVY", env) == dir_tool
    env["LOCKGATE_TOOLS_DIR"] = str(tmp_path / "nothing")
    assert locate("trivy", "LOCKGATE_TRIVY", env) == path_tool
    env["PATH"] = str(tmp_path / "nothing")
    with pytest.raises(ToolMissing, match=r"trivy not found .*install it or set LOCKGATE_TRIVY"):
        locate("trivy", "LOCKGATE_TRIVY", env)


def test_a_trivy_that_is_not_the_pinned_build_is_refused(tmp_path: Path) -> None:
    impostor = _executable(tmp_path / "bin" / "trivy")
    with pytest.raises(
        ToolRefused,
        match=r"trivy at .* has sha256 [0-9a-f]{64}, not the pinned "
        f"{TRIVY_SHA256}: refusing to run it",
    ):
        find_trivy({"LOCKGATE_TRIVY": str(impostor), "PATH": ""})
    with pytest.raises(ToolRefused):
        Trivy(impostor).argv("image", "x")


def test_pin_check_is_cached_but_a_changed_file_is_checked_again(tmp_path: Path) -> None:
    tool = _executable(tmp_path / "t", "one")
    import hashlib

    pin = PinnedDigest(hashlib.sha256(b"one").hexdigest())
    pin.check(tool, "t")
    assert len(pin._seen) == 1
    pin.check(tool, "t")
    assert len(pin._seen) == 1
    tool.write_text("two")
    os.utime(tool, ns=(1, 1))
    with pytest.raises(ToolRefused):
        pin.check(tool, "t")
    assert len(pin._seen) == 2


def test_installed_trivy_is_the_pinned_one(trivy: Trivy) -> None:
    assert trivy.argv("--version")[1:] == ["--version"]


def test_cosign_major_version_decides_the_no_tlog_flags(cosign: Cosign) -> None:
    assert cosign.version.count(".") == 2 and cosign.major >= 2
    v2 = Cosign(cosign.path, "2.5.0")
    v3 = Cosign(cosign.path, "3.1.1")
    assert v2.no_tlog_flags() == ["--tlog-upload=false"]
    assert v3.no_tlog_flags() == ["--tlog-upload=false", "--use-signing-config=false"]
    assert cosign_version(cosign.path, {"LOCKGATE_COSIGN_VERSION": "v3.0.2"}) == "3.0.2"
