"""`lockgate validate` checks the `with:` block of each built-in stage with the stage's own
config model, and reports a bad field at its line and column in lockgate.yaml."""

from __future__ import annotations

from tests.projects import lockgate, write_project

SPEC = """\
version: 1
name: ingesting
image: {{base: lockgate/debian:bookworm}}
secrets:
  pg: {{env: STAGE_CONFIG_TEST_PG}}
stages:
  pull:
    uses: lockgate/ingest
    secrets: [pg]
    with:
      source:
        postgres:
          user: lg
          password: pg
          port: {port}
          table: events
      incremental: {{watermark: id}}
      mode: stream
"""


def test_a_good_ingest_block_validates(tmp_path):
    root = write_project(tmp_path / "p", SPEC.format(port=5432))
    result = lockgate("validate", cwd=root, env={"STAGE_CONFIG_TEST_PG": "x"})
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("ok: lockgate.yaml (ingesting, 1 stage)")


def test_a_bad_field_is_named_at_its_line(tmp_path):
    root = write_project(tmp_path / "p", SPEC.format(port="five"))
    result = lockgate("validate", cwd=root, env={"STAGE_CONFIG_TEST_PG": "x"})
    assert result.code != 0
    assert "Traceback" not in result.stderr
    line = [ln for ln in result.stderr.splitlines() if "with.source.postgres.port" in ln]
    assert line, result.stderr
    assert (
        "lockgate.yaml:15:17: stages.pull: ingest stage with.source.postgres.port: Input should be a "
        in (line[0])
    )


def test_a_cross_field_rule_is_reported(tmp_path):
    spec = SPEC.format(port=5432).replace("      incremental: {watermark: id}\n", "")
    root = write_project(tmp_path / "p", spec)
    result = lockgate("validate", cwd=root, env={"STAGE_CONFIG_TEST_PG": "x"})
    assert result.code != 0
    assert "mode: stream reads rows past a watermark" in result.stderr
