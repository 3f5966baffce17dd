"""The stage contract, honoured identically: the quickstart pipeline through the local and the
docker executor (a real engine) gives byte-identical outputs and equal cache keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.projects import QUICKSTART, last_record, lockgate

pytestmark = pytest.mark.docker
ENV = {"QUICKSTART_SIGNING_KEY": "conformance-key-0123"}


def _run(tmp_path: Path, executor: str, base_image: str) -> tuple[Path, dict]:
    root = tmp_path / executor
    shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".lockgate"))
    spec = root / "lockgate.yaml"
    spec.write_text(spec.read_text().replace("lockgate/debian:bookworm", base_image))
    result = lockgate(
        "run", "--executor", executor, "--export-dir", str(root / "export"), cwd=root, env=ENV
    )
    assert result.code == 0, result.stderr
    return root / "export", last_record(root)


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_local_and_docker_outputs_are_byte_identical(tmp_path, base_image):
    local_out, local_record = _run(tmp_path, "local", base_image)
    docker_out, docker_record = _run(tmp_path, "docker", base_image)
    assert _files(local_out) == _files(docker_out)
    assert len(_files(local_out)) >= 7  # every stage wrote something
    for a, b in zip(local_record["stages"], docker_record["stages"], strict=True):
        assert (a["name"], a["cache_key"], a["outputs_digest"]) == (
            b["name"],
            b["cache_key"],
            b["outputs_digest"],
        )
    assert docker_record["executor"] == "docker"
    assert all(s["image_id"].startswith("sha256:") for s in docker_record["stages"])


def test_docker_stage_sees_the_contract(tmp_path, base_image):
    """Paths, ids and read-only mounts inside the container are the ones the contract names."""
    from tests.projects import write_project

    root = write_project(
        tmp_path / "p",
        f"""\
        version: 1
        name: contract
        image: {{base: {base_image}}}
        stages:
          up:
            run: [sh, -c, 'echo up > "$LOCKGATE_OUT/up.txt"']
          probe:
            needs: [up]
            run:
              - sh
              - -c
              - >-
                env | grep ^LOCKGATE_ | grep -v -e RUN_ID -e GIT_SHA -e IMAGE_DIGEST | sort > "$LOCKGATE_OUT/env.txt";
                cat "$LOCKGATE_IN/up/up.txt" > "$LOCKGATE_OUT/in.txt";
                (touch /workspace/nope 2>/dev/null && echo rw || echo ro) > "$LOCKGATE_OUT/ws.txt";
                (touch "$LOCKGATE_IN/up/nope" 2>/dev/null && echo rw || echo ro) >> "$LOCKGATE_OUT/ws.txt";
                pwd >> "$LOCKGATE_OUT/ws.txt"
        """,
    )
    result = lockgate("run", "--executor", "docker", "--export-dir", str(root / "x"), cwd=root)
    assert result.code == 0, result.stderr
    env = (root / "x" / "probe" / "env.txt").read_text().splitlines()
    state = (root / ".lockgate" / "state").resolve()
    assert env == [
        "LOCKGATE_IN=/lockgate/in",
        "LOCKGATE_OUT=/lockgate/out",
        "LOCKGATE_SECRETS=/run/secrets",
        "LOCKGATE_STAGE=probe",
        f"LOCKGATE_STATE={state}",
        "LOCKGATE_WORKSPACE=/workspace",
    ]
    assert (root / "x" / "probe" / "in.txt").read_text() == "up\n"
    assert (root / "x" / "probe" / "ws.txt").read_text() == "ro\nro\n/workspace\n"
