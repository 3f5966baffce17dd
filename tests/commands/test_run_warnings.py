"""`lockgate run` says before a run starts when part of what it keeps will not be sealed: with
`encryption:` set and the Dagger executor, a stage's `caches:` are the engine's own cache
volumes. No Dagger engine can run here, so the Dagger runs point the SDK at a closed loopback
port and fail to connect after the warning; the warning is what is checked."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.projects import lockgate, write_project

KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
SPEC = """\
version: 1
name: caches
image: {{base: lockgate/debian:bookworm}}
secrets:
  data-key: {{file: data.key}}
{encryption}stages:
  fetch:
    run: [sh, -c, 'echo hi > "$LOCKGATE_OUT/a.txt"']
    caches: {{hub: /root/.cache/hub}}
  tokens:
    run: [sh, -c, 'echo hi > "$LOCKGATE_OUT/t.txt"']
    caches: {{pip: /root/.cache/pip}}
  plain:
    run: [sh, -c, 'echo hi > "$LOCKGATE_OUT/b.txt"']
"""
WARNING = "warning: encryption: the caches: of fetch, tokens are the Dagger engine's cache volumes"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(root: Path, encrypted: bool) -> Path:
    encryption = "encryption: {key: data-key}\n" if encrypted else ""
    return write_project(root, SPEC.format(encryption=encryption), {"data.key": KEY + "\n"})


def _dagger_run(root: Path, *more: str) -> str:
    env = {"DAGGER_SESSION_PORT": str(_closed_port()), "DAGGER_SESSION_TOKEN": "closed"}
    done = lockgate("run", "--executor", "dagger", *more, cwd=root, env=env, timeout=120)
    assert done.code != 0  # no engine answers: every stage fails to connect
    return done.stderr


def test_sealed_outputs_with_dagger_caches_warn_once_before_the_run(tmp_path: Path) -> None:
    stderr = _dagger_run(_project(tmp_path / "p", encrypted=True))
    assert stderr.count(WARNING) == 1, stderr
    assert stderr.index(WARNING) < stderr.index("with the dagger executor")  # before it starts
    assert "--executor docker to seal them" in stderr


def test_no_warning_without_encryption_or_with_another_executor(tmp_path: Path) -> None:
    assert "caches: of" not in _dagger_run(_project(tmp_path / "plain", encrypted=False))
    local = lockgate("run", "--executor", "local", cwd=_project(tmp_path / "l", encrypted=True))
    assert local.code == 0, local.stderr
    assert "caches: of" not in local.stderr


def test_only_the_selected_stages_count(tmp_path: Path) -> None:
    stderr = _dagger_run(_project(tmp_path / "p", encrypted=True), "--stage", "plain", "--only")
    assert "caches: of" not in stderr
