"""A URL passed to stages whole may carry a user and password (MLFLOW_TRACKING_URI naming a
database store, a token written as the user): the stage still gets it whole, and its log and
the run's records show neither."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.engine.stage_env import url_credentials
from tests.projects import lockgate, write_project

SPEC = """\
    version: 1
    name: urls
    image: {base: lockgate/debian:bookworm}
    stages:
      show:
        run: [python3, -c, "import os; print('store', os.environ['MLFLOW_TRACKING_URI'])"]
"""


@pytest.mark.parametrize(
    ("value", "hidden"),
    [
        (
            "postgresql+psycopg://ann:s%40cret-9@db:5432/ml",
            ["ann:s%40cret-9", "s%40cret-9", "s@cret-9"],
        ),
        ("https://tok-4f9a1c@mlflow.example/x", ["tok-4f9a1c"]),
        ('{"tracking_uri": "https://bob:pw-77x@h/x"}', ["bob:pw-77x", "pw-77x", "pw-77x"]),
        ("https://mlflow.example/x", []),
        ("git@host:repo.git", []),
    ],
)
def test_the_credentials_of_a_url_are_found_wherever_it_sits(value: str, hidden: list[str]) -> None:
    assert url_credentials(value) == hidden


def test_a_stage_gets_the_whole_url_and_its_log_and_record_hide_the_password(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "p", SPEC)
    secret = "Vq7-tracking-pw-3Kd"
    url = f"http://ann:{secret}@127.0.0.1:9/"
    done = lockgate(
        "run", "--executor", "local", cwd=root, env={"MLFLOW_TRACKING_URI": url}
    )  # fmt: skip
    assert done.code == 0, done.stderr
    log = next((root / ".lockgate" / "runs").glob("*/show/log.txt")).read_text()
    assert "store http://***@127.0.0.1:9/" in log  # the stage saw it whole; its log does not
    shown = done.stdout + done.stderr
    assert "store http://***@127.0.0.1:9/" in shown and secret not in shown
    files = [p for p in (root / ".lockgate").rglob("*") if p.is_file()]
    assert files and not [p for p in files if secret.encode() in p.read_bytes()]
