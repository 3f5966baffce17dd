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
    assert (
        "lockgate.yaml:15:17: stages.pull.with.source.postgres.port: Input should be a valid "
        "integer" in result.stderr
    )


def test_a_cross_field_rule_is_reported(tmp_path):
    spec = SPEC.format(port=5432).replace("      incremental: {watermark: id}\n", "")
    root = write_project(tmp_path / "p", spec)
    result = lockgate("validate", cwd=root, env={"STAGE_CONFIG_TEST_PG": "x"})
    assert result.code != 0
    assert "mode: stream reads rows past a watermark" in result.stderr


EVERY_STAGE = """\
version: 1
name: typos
image: {base: lockgate/debian:bookworm}
stages:
  fit:
    uses: lockgate/train
    with: {epochz: 3, entrypoint: model.py:build, data: {train: in:prep/train.parquet}}
  check:
    uses: lockgate/data-check
    with: {data: d.csv, unique: [id], incremental: true, rowz: {min: 3}}
  scan:
    uses: lockgate/scan
    with: {image: "r/x@sha256:00", scanerz: [vuln]}
  sign:
    uses: lockgate/sign
    with: {image: "r/x@sha256:00", key: k, attest: [sbom, nope]}
  package:
    uses: lockgate/package
    with: {model: in:fit/model, repositry: r/x}
"""


def test_every_stage_with_a_bad_block_is_reported_at_once_with_a_suggestion(tmp_path):
    root = write_project(tmp_path / "p", EVERY_STAGE)
    result = lockgate("validate", cwd=root)
    assert result.code == 2 and "Traceback" not in result.stderr
    err = result.stderr
    assert (
        "lockgate.yaml:7:12: stages.fit.with.epochz: unknown key 'epochz'; did you mean 'epochs'?"
        in err
    )
    assert (
        "lockgate.yaml:10:58: stages.check.with.rowz: unknown key 'rowz'; did you mean 'rows'?"
        in err
    )
    assert "stages.scan.with.scanerz: unknown key 'scanerz'; did you mean 'scanners'?" in err
    assert "lockgate.yaml:16:59: stages.sign.with.attest[1]: Input should be 'sbom'" in err
    assert (
        "stages.package.with.repositry: unknown key 'repositry'; did you mean 'repository'?" in err
    )
    # the data-check shorthands (unique: [id], incremental: true) are accepted, not reported
    assert "unique" not in err and "incremental" not in err


def test_the_fixed_blocks_validate(tmp_path):
    fixed = (
        EVERY_STAGE.replace("epochz", "epochs")
        .replace("rowz", "rows")
        .replace("scanerz", "scanners")
        .replace(", nope", "")
        .replace("repositry", "repository")
    )
    result = lockgate("validate", cwd=write_project(tmp_path / "p", fixed))
    assert result.code == 0, result.stderr


def test_a_memory_budget_that_is_not_a_size_is_named_at_its_line(tmp_path):
    spec = SPEC.format(port=5432) + "      memory_budget: half a gig\n"
    root = write_project(tmp_path / "p", spec)
    result = lockgate("validate", cwd=root, env={"STAGE_CONFIG_TEST_PG": "x"})
    assert result.code != 0
    assert "Traceback" not in result.stderr
    assert (
        "lockgate.yaml:19:22: stages.pull.with.memory_budget: 'half a gig' is not a size like "
        "256MiB" in result.stderr
    ), result.stderr
