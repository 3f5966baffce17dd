"""A secret value never appears in logs, run.json, cache entries, exported outputs, terminal
output or the runner image — even when the stage prints it."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.projects import last_record, lockgate, write_project

SECRET = "s3cr3t-Value-9f8e7d"
SPEC = """\
version: 1
name: secretive
image: {{base: {base}}}
secrets:
  token: {{env: DEMO_TOKEN}}
stages:
  leak:
    run: [sh, -c, 'echo "token=$(cat $LOCKGATE_SECRETS/token)"; echo "still $(cat $LOCKGATE_SECRETS/token)" >&2; echo done > "$LOCKGATE_OUT/done.txt"']
    secrets: [token]
  after:
    run: [sh, -c, 'ls "$LOCKGATE_SECRETS" > "$LOCKGATE_OUT/seen.txt"']
    needs: [leak]
"""


def _grep_tree(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def check_no_secret_leaks(root: Path, result) -> None:
    assert result.code == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert "token=***" in result.stderr
    assert _grep_tree(root / ".lockgate", SECRET.encode()) == []
    assert _grep_tree(root / "export", SECRET.encode()) == []
    record = last_record(root)
    assert record["stages"][0]["secrets"] == ["token"]
    log = Path(record["stages"][0]["log"]).read_text()
    assert "token=***" in log and "still ***" in log
    # a stage that did not declare the secret does not get it
    assert (root / "export" / "after" / "seen.txt").read_text() == ""


def test_local_executor_keeps_secrets_out(tmp_path):
    root = write_project(tmp_path / "p", SPEC.format(base="lockgate/debian:bookworm"))
    result = lockgate(
        "run", "--executor", "local", "--export-dir", "export", cwd=root, env={"DEMO_TOKEN": SECRET}
    )
    check_no_secret_leaks(root, result)


def test_a_secret_with_trailing_whitespace_or_several_lines_is_masked_line_by_line(tmp_path):
    """A stage prints lines; an env value ending in a newline, or a multi-line value (a PEM
    key), never appears whole in one line, so each of its lines is masked."""
    pem = "-----BEGIN TEST KEY-----\nMIIBVgIBADANBgkqhkiG9w0BAQEFAASC\nAUAwggE8AgEAAkEAq7BFUpkGp3+Xy\n"
    pem += "-----END TEST KEY-----"
    spec = """\
    version: 1
    name: lines
    image: {base: lockgate/debian:bookworm}
    secrets:
      token: {env: DEMO_TOKEN}
      pem: {file: key.pem}
    stages:
      leak:
        run: [sh, -c, 'cat "$LOCKGATE_SECRETS/token"; echo; cat "$LOCKGATE_SECRETS/pem"']
        secrets: [token, pem]
    """
    root = write_project(tmp_path / "p", spec, {"key.pem": pem + "\n"})
    result = lockgate("run", "--executor", "local", cwd=root, env={"DEMO_TOKEN": SECRET + "\n"})
    assert result.code == 0, result.stderr
    shown = result.stdout + result.stderr
    log = Path(last_record(root)["stages"][0]["log"]).read_text()
    for line in [SECRET, *pem.splitlines()[1:3]]:
        assert line not in shown and line not in log, line
    assert log.count("***") >= 5


@pytest.mark.docker
def test_docker_executor_keeps_secrets_out_of_everything(tmp_path, base_image, docker_client):
    root = write_project(tmp_path / "p", SPEC.format(base=base_image))
    result = lockgate(
        "run",
        "--executor",
        "docker",
        "--export-dir",
        "export",
        cwd=root,
        env={"DEMO_TOKEN": SECRET},
    )
    check_no_secret_leaks(root, result)
    image = docker_client.images.get(last_record(root)["stages"][0]["image_id"])
    saved = subprocess.run(["docker", "save", image.id], capture_output=True, check=True).stdout
    assert len(saved) > 1_000_000 and SECRET.encode() not in saved
    assert SECRET not in str(image.attrs)


def test_missing_secret_is_a_clear_error(tmp_path):
    root = write_project(tmp_path / "p", SPEC.format(base="lockgate/debian:bookworm"))
    result = lockgate("run", "--executor", "local", cwd=root, env={})
    assert result.code == 2
    assert result.stderr.strip() == (
        "lockgate: error: secret 'token': environment variable DEMO_TOKEN is not set; "
        "export it or point the secret at a file"
    )


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        (b"\x7fELF\x02\x01\x88\x00", "is not UTF-8 text; store the secret as text (e.g. base64)"),
        (b"k" * (1024 * 1024 + 1), "holds more than 1,048,576 bytes; point the secret at the file"),
    ],
)
def test_a_secret_file_that_is_not_a_small_text_is_refused_by_name(tmp_path, contents, problem):
    from lockgate.engine.secrets import missing_secrets

    (tmp_path / "key").write_bytes(contents)
    problems = missing_secrets({"key": {"file": "key"}}, ["key"], tmp_path)
    assert problems == [problems[0]] and problems[0].startswith(
        f"secret 'key': {tmp_path / 'key'} "
    )
    assert problem in problems[0]


def test_a_secret_file_reads_like_text(tmp_path):
    from lockgate.engine.secrets import resolve_secrets

    (tmp_path / "token").write_bytes(b"line1\r\nline2\r\n\n")
    assert resolve_secrets({"t": {"file": "token"}}, ["t"], tmp_path) == {"t": "line1\nline2"}


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_secret_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    """A FIFO with no writer would block ``validate`` forever on open or read; a device never
    ends. Both are refused by name before any read."""
    from lockgate.engine.secrets import missing_secrets

    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero")
    done: list[list[str]] = []
    reader = threading.Thread(
        target=lambda: done.append(missing_secrets({"k": {"file": str(path)}}, ["k"], tmp_path)),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=30)
    if not done and kind == "fifo":
        with open(path, "wb"):  # unblock the reader so the thread ends
            pass
    assert done, "reading the secret blocked"
    assert done[0] == [
        f"secret 'k': {path} is not a regular file (a pipe, socket or device would block or "
        "never end); point the secret at a file that holds the key or token"
    ]
