"""Docker-executor behaviour that needs a real engine: errors, Ctrl-C, timeouts, GPU requests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from lockgate.executors.docker import RUN_LABEL, _gpus
from tests.projects import REPO_ROOT, last_record, lockgate, states, write_project


def test_missing_engine_is_a_clear_error(tmp_path):
    root = write_project(
        tmp_path / "p",
        """\
        version: 1
        name: x
        image: {base: lockgate/debian:bookworm}
        stages: {a: {run: "true"}}
        """,
    )
    result = lockgate(
        "run", "--executor", "docker", cwd=root, env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"}
    )
    assert result.code == 2
    assert result.stderr.startswith(
        f"lockgate: error: no Docker engine answers at unix://{tmp_path}/no.sock"
    )
    assert "--executor local" in result.stderr and "Traceback" not in result.stderr


def test_gpu_stage_asks_for_devices():
    (request,) = _gpus(2)
    assert request["Count"] == 2 and request["Capabilities"] == [["gpu"]]
    assert _gpus("all")[0]["Count"] == -1
    assert _gpus(0) == []


@pytest.mark.docker
def test_missing_base_image_names_the_fix(tmp_path):
    root = write_project(
        tmp_path / "p",
        """\
        version: 1
        name: x
        image: {base: lockgate/no-such-base:1}
        stages: {a: {run: "true"}}
        """,
    )
    result = lockgate("run", "--executor", "docker", cwd=root)
    assert result.code == 1
    record = last_record(root)
    assert "lockgate image bootstrap --tag lockgate/no-such-base:1" in record["stages"][0]["reason"]


@pytest.mark.docker
def test_timeout_stops_the_container(tmp_path, base_image, docker_client):
    root = write_project(
        tmp_path / "p",
        f"""\
        version: 1
        name: x
        image: {{base: {base_image}}}
        stages: {{slow: {{run: [sleep, "60"], timeout: 2}}}}
        """,
    )
    started = time.monotonic()
    result = lockgate("run", "--executor", "docker", cwd=root)
    assert result.code == 1
    assert time.monotonic() - started < 40
    assert last_record(root)["stages"][0]["reason"] == "timed out after 2s"
    run_id = last_record(root)["run_id"]
    assert docker_client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []


@pytest.mark.docker
def test_ctrl_c_stops_containers_and_exits_130(tmp_path, base_image, docker_client):
    root = write_project(
        tmp_path / "p",
        f"""\
        version: 1
        name: x
        image: {{base: {base_image}}}
        stages:
          one: {{run: [sleep, "120"]}}
          two: {{run: [sleep, "120"]}}
          after: {{run: ["true"], needs: [one]}}
        """,
    )

    def ours(**kw) -> list[str]:
        """This run's containers: other runs may use the engine meanwhile (the suite starts the
        release path in the background)."""
        found = docker_client.containers.list(filters={"label": RUN_LABEL}, **kw)
        return [
            c.id
            for c in found
            if c.id not in before and c.labels.get("dev.lockgate.stage") in ("one", "two", "after")
        ]

    before = {c.id for c in docker_client.containers.list(all=True, filters={"label": RUN_LABEL})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", "--executor", "docker", "--jobs", "2"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(ours()) < 2:
        assert time.monotonic() < deadline and proc.poll() is None, (
            proc.stderr.read() if proc.poll() is not None else "containers never started"
        )
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert ours(all=True) == []
    assert states(last_record(root)) == {
        "one": "interrupted",
        "two": "interrupted",
        "after": "interrupted",
    }


PING = (
    "import os, socket; s = socket.socket(socket.AF_UNIX); crlf2 = bytes([13, 10, 13, 10]); "
    "s.connect(os.environ['DOCKER_HOST'][7:]); s.send(b'GET /_ping HTTP/1.0' + crlf2); "
    "open(os.environ['LOCKGATE_OUT'] + '/ping', 'wb').write(s.recv(4096).split(crlf2)[-1])"
)


@pytest.mark.docker
def test_engine_socket_only_for_stages_that_ask(tmp_path, base_image):
    root = write_project(
        tmp_path / "p",
        f"""\
        version: 1
        name: engine
        image: {{base: {base_image}}}
        stages:
          builder: {{run: [python3, -c, "{PING}"], engine: true}}
          plain: {{run: [sh, -c, 'test -e /var/run/docker.sock && echo yes > $LOCKGATE_OUT/sock || echo no > $LOCKGATE_OUT/sock']}}
        """,
    )
    result = lockgate("run", "--executor", "docker", "--export-dir", "x", cwd=root)
    assert result.code == 0, result.stderr
    assert (root / "x" / "builder" / "ping").read_bytes() == b"OK"
    assert (root / "x" / "plain" / "sock").read_text() == "no\n"


@pytest.mark.docker
def test_the_engine_keeps_no_copy_of_what_a_stage_prints(tmp_path, base_image, docker_client):
    """A stage's container has no log of the engine's (its json-file log would hold the lines
    unmasked and unsealed on the engine's disk): the lines reach lockgate through an attach,
    all of them, in order per stream. The stage waits (at most a minute) until the test has
    read its container's log settings, and then prints its last line."""
    stage = f"quiet{os.getpid()}"
    wait = "i=0; while [ ! -e /tmp/seen ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"
    root = write_project(
        tmp_path / "p",
        f"""\
        version: 1
        name: x
        image: {{base: {base_image}, lockgate: false}}
        stages:
          {stage}:
            run: [sh, -c, 'echo first; echo "row-$((6*7))"; {wait}; echo last']
        """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", "--executor", "docker"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = None
    deadline = time.monotonic() + 120
    while seen is None and proc.poll() is None and time.monotonic() < deadline:
        found = docker_client.containers.list(filters={"label": f"dev.lockgate.stage={stage}"})
        seen = found[0].attrs["HostConfig"]["LogConfig"] if found else None
        if found:
            assert found[0].exec_run(["touch", "/tmp/seen"]).exit_code == 0
        time.sleep(0.1)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert seen == {"Type": "none", "Config": {}}
    log = root / ".lockgate" / "runs" / last_record(root)["run_id"] / stage / "log.txt"
    assert log.read_text().splitlines() == ["first", "row-42", "last"]
