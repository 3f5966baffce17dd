"""lockgate killed (SIGKILL) in the middle of a rollout: a rerun converges to one stable version
at 100%, with nothing else of the environment left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lockgate.delivery.environment import STATE_SUBDIR
from lockgate.delivery.rollout.state import StateStore
from lockgate.delivery.rollout.traffic import LoadGenerator

pytestmark = pytest.mark.docker

ROLLOUT = (
    "import argparse, sys\n"
    "from lockgate.commands import rollout\n"
    "p = argparse.ArgumentParser(); rollout.add_arguments(p)\n"
    "sys.exit(rollout.run(p.parse_args(sys.argv[1:])))\n"
)


def rollout(root, *args, **kw):
    from tests.conftest import REPO_ROOT

    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", ROLLOUT, *args, "--delivery", str(root / "delivery.yaml")],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


@pytest.mark.parametrize("rerun", ["start", "abort"])
def test_killed_mid_rollout_then_rerun_converges(
    tmp_path, docker_client, serving_image, proxy_image, rerun
):
    env = f"k{os.getpid()}{rerun}"
    (tmp_path / "delivery.yaml").write_text(
        textwrap.dedent(f"""\
        environments:
          {env}:
            canary:
              steps:
                - {{weight: 10, pause: {{duration: 30}}}}
                - {{weight: 50, pause: {{duration: 0.5}}}}
            # this test is about converging after a crash, not about judging the candidate:
            # a handful of requests at 10% makes prediction drift pure noise
            analysis: {{min_requests: 1, conditions: ["error_rate < 0.01"]}}
            docker: {{drain_s: 0.2}}
        """)
    )
    store = StateStore(tmp_path / STATE_SUBDIR)
    try:
        first = rollout(tmp_path, "start", env, "--ref", serving_image)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        proxy = docker_client.containers.get(f"lockgate-{env}-proxy")
        port = proxy.attrs["NetworkSettings"]["Ports"]["8080/tcp"][0]["HostPort"]
        load = LoadGenerator(f"http://127.0.0.1:{port}", 40, 90.0).start()
        second = rollout(tmp_path, "start", env, "--ref", serving_image, "--set-env", "X=2")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and store.load(env).weight != 10:
            time.sleep(0.05)
        assert store.load(env).phase == "progressing"
        second.send_signal(signal.SIGKILL)
        second.communicate(timeout=10)
        # the killed process left the candidate running at 10%
        assert docker_client.containers.get(f"lockgate-{env}-r2").status == "running"

        if rerun == "start":  # the same rollout again: it continues where it was
            (tmp_path / "delivery.yaml").write_text(
                (tmp_path / "delivery.yaml").read_text().replace("duration: 30", "duration: 0.5")
            )
            again = rollout(tmp_path, "start", env, "--ref", serving_image, "--set-env", "X=2")
        else:
            again = rollout(tmp_path, "abort", env)
        _, err = again.communicate(timeout=90)
        outcomes = load.stop()
        state = store.load(env)
        names = sorted(
            c.name
            for c in docker_client.containers.list(
                filters={"label": f"lockgate.delivery.env={env}"}
            )
        )
        routes = (tmp_path / STATE_SUBDIR / env / "proxy" / "routes.conf").read_text()
        if rerun == "start":
            assert again.returncode == 0, err
            assert state.phase == "completed" and state.stable.revision == 2
            assert names == [f"lockgate-{env}-proxy", f"lockgate-{env}-r2"]
        else:
            assert again.returncode == 1, err
            assert state.phase == "aborted" and state.stable.revision == 1
            assert names == [f"lockgate-{env}-proxy", f"lockgate-{env}-r1"]
        assert routes.count("    server ") == 1 and "weight=100" in routes
        assert not [o for o in outcomes if o.failed]
    finally:
        from lockgate.delivery.config import load_delivery_config
        from lockgate.delivery.rollout.targets.docker import DockerTarget

        settings = load_delivery_config(tmp_path / "delivery.yaml").environment(env)
        DockerTarget(env, settings, store.folder, client=docker_client).teardown()
