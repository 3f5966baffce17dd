"""Choosing the executor: decided from environment variables and one socket connect, never by
importing an SDK; skipped entirely when every stage is a cache hit. Runs the real CLI and, for
the socket probe, real listening sockets."""

from __future__ import annotations

import re
import socket

from lockgate.executors import DEFAULT_DOCKER_HOST, docker_answers, engine_candidates
from tests.projects import last_record, lockgate, write_project

SPEC = """\
version: 1
name: chain
image: {base: lockgate/debian:bookworm}
stages:
  a: {run: [sh, -c, 'echo a > "$LOCKGATE_OUT/a.txt"']}
  b: {run: [sh, -c, 'cat "$LOCKGATE_IN/a/a.txt" > "$LOCKGATE_OUT/b.txt"'], needs: [a]}
"""


def _imported(stderr: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^import time:.*\|\s*(\S+)$", stderr, re.M)}


def test_default_noop_rerun_imports_no_sdk_and_counts_the_whole_command(tmp_path):
    root = write_project(tmp_path / "p", SPEC)
    assert lockgate("run", "--executor", "local", cwd=root).code == 0
    again = lockgate("run", cwd=root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert again.code == 0, again.stderr
    record = last_record(root)
    assert {s["state"] for s in record["stages"]} == {"cached"}
    imported = _imported(again.stderr)
    assert "lockgate.executors" in imported  # the import log is really there
    assert not {"dagger", "docker", "docker.api"} & imported
    assert "warning:" not in again.stderr  # nothing runs, so no "no container engine" warning
    summary = re.search(r"succeeded in ([0-9.]+)s", again.stderr)
    assert summary, again.stderr
    # the summary counts from the command's start, so it exceeds the runner's own span
    assert float(summary.group(1)) > record["finished"] - record["started"]


def test_docker_candidate_needs_something_listening(tmp_path):
    path = tmp_path / "engine.sock"
    host = f"unix://{path}"
    assert not docker_answers(host)
    env = {"DOCKER_HOST": host, "PATH": str(tmp_path)}
    candidates, why = engine_candidates(env)
    assert candidates == []
    assert f"docker: no engine answers at {host}" in why
    assert any(w.startswith("dagger: no engine session") for w in why)
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen(1)
        assert docker_answers(host)
        assert engine_candidates(env)[0] == ["docker"]


def test_tcp_docker_host_is_probed_by_connect(tmp_path):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        assert docker_answers(f"tcp://127.0.0.1:{port}")
    assert not docker_answers(f"tcp://127.0.0.1:{port}", timeout_s=0.5)


def test_without_probe_a_missing_default_socket_is_not_a_candidate(tmp_path):
    candidates, _ = engine_candidates({"PATH": str(tmp_path)}, probe=False)
    socket_there = __import__("pathlib").Path(DEFAULT_DOCKER_HOST[len("unix://") :]).exists()
    assert candidates == (["docker"] if socket_there else [])
