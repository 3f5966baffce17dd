"""`validate` and `plan` warn about a declared secret that cannot be read now (they used to say
ok, and only the run failed); the value of a secret that is there never appears."""

from __future__ import annotations

from tests.projects import lockgate, write_project

SPEC = """\
version: 1
name: signed
image: {base: lockgate/debian:bookworm}
secrets:
  token: {env: SECRET_WARNING_TEST_TOKEN}
  key: {file: keys/signing.key}
stages:
  sign:
    run: [sh, -c, 'test -s /run/secrets/token && echo done > "$LOCKGATE_OUT/o.txt"']
    secrets: [token, key]
"""


def test_validate_and_plan_warn_about_each_missing_secret(tmp_path):
    root = write_project(tmp_path / "p", SPEC)
    for command in ("validate", "plan"):
        result = lockgate(command, cwd=root)
        assert result.code == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 2, result.stderr
        assert (
            "secret 'token': environment variable SECRET_WARNING_TEST_TOKEN is not set"
            in (warnings[1])
        )
        assert f"secret 'key': cannot read {root / 'keys' / 'signing.key'}" in warnings[0]


def test_no_warning_when_the_secrets_are_there(tmp_path):
    root = write_project(tmp_path / "p", SPEC, {"keys/signing.key": "s3cr3t-file-value\n"})
    env = {"SECRET_WARNING_TEST_TOKEN": "s3cr3t-env-value"}
    for command in ("validate", "plan"):
        result = lockgate(command, cwd=root, env=env)
        assert result.code == 0, result.stderr
        assert "warning" not in result.stderr
        assert "s3cr3t" not in result.stdout + result.stderr
