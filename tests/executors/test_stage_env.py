"""A stage sees only what it declares: under the local executor and the docker executor (a real
engine), a secret declared for stage ``a`` is invisible to stage ``b``, a host variable outside
the documented base is invisible to both, and the base (here ``LANG``) reaches both."""

from __future__ import annotations

import pytest

from lockgate.engine.stage_env import base_env
from tests.projects import lockgate, write_project

SECRET = "s3cr3t-9f2c41"
PROBE = (
    '([ -f "$LOCKGATE_SECRETS/demo_token" ] && echo secret-file || true); '
    f"(env | grep -q {SECRET} && echo secret-in-env || true); "
    '([ -n "$DEMO_TOKEN" ] && echo demo-token-var || true); '
    '([ -n "$UNRELATED_HOST_VAR" ] && echo host-var || true); '
    'echo "greeting=${GREETING:-}"; echo "lang=${LANG:-}"'
)


def spec(base_image: str) -> str:
    return f"""\
        version: 1
        name: isolation
        image: {{base: {base_image}}}
        secrets:
          demo_token: {{env: DEMO_TOKEN}}
        stages:
          a:
            secrets: [demo_token]
            env: {{GREETING: hi}}
            run: [sh, -c, '({PROBE}) > "$LOCKGATE_OUT/seen.txt"']
          b:
            needs: [a]
            run: [sh, -c, '({PROBE}) > "$LOCKGATE_OUT/seen.txt"']
        """


@pytest.mark.parametrize("executor", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_secret_reaches_only_the_stage_that_declares_it(tmp_path, executor, request) -> None:
    base_image = request.getfixturevalue("base_image") if executor == "docker" else "x:1"
    root = write_project(tmp_path / "p", spec(base_image))
    env = {"DEMO_TOKEN": SECRET, "UNRELATED_HOST_VAR": "host-only", "LANG": "C.UTF-8"}
    result = lockgate("run", "--executor", executor, "--export-dir", "x", cwd=root, env=env)
    assert result.code == 0, result.stderr
    seen = {s: (root / "x" / s / "seen.txt").read_text().splitlines() for s in ("a", "b")}
    assert seen["a"] == ["secret-file", "greeting=hi", "lang=C.UTF-8"]
    assert seen["b"] == ["greeting=", "lang=C.UTF-8"]


def test_the_base_keeps_ci_job_facts_but_not_its_credentials() -> None:
    host = {
        "PATH": "/usr/bin",
        "HOME": "/home/ci",
        "LC_ALL": "C.UTF-8",
        "https_proxy": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ssl/ca.pem",
        "CI": "true",
        "GITHUB_SHA": "abc",
        "GITHUB_TOKEN": "ghs_x",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "x",
        "CI_JOB_TOKEN": "glcbt-x",
        "CI_REGISTRY_PASSWORD": "x",
        "CI_COMMIT_SHA": "abc",
        "BUILD_NUMBER": "7",
        "DOCKER_HOST": "unix:///run/docker.sock",
        "LOCKGATE_REGISTRY_PASSWORD": "x",
        "AWS_SECRET_ACCESS_KEY": "x",
        "DEMO_TOKEN": "x",
    }
    local = base_env(host, in_container=False, engine=False)
    assert sorted(local) == [
        "BUILD_NUMBER", "CI", "CI_COMMIT_SHA", "GITHUB_SHA", "HOME", "LC_ALL", "PATH",
        "SSL_CERT_FILE", "https_proxy",
    ]  # fmt: skip
    assert "DOCKER_HOST" in base_env(host, in_container=False, engine=True)
    contained = base_env(host, in_container=True, engine=True)
    assert sorted(contained) == [
        "BUILD_NUMBER",
        "CI",
        "CI_COMMIT_SHA",
        "GITHUB_SHA",
        "LC_ALL",
        "https_proxy",
    ]


def test_the_tracking_server_reaches_stages_but_not_its_credentials() -> None:
    """Regression: CI keeps MLFLOW_TRACKING_URI as a secret/variable of the train and evaluate
    jobs, and the base used to drop it, so evaluation in CI compared against an empty store."""
    server = {"MLFLOW_TRACKING_URI": "https://mlflow.example.org", "MLFLOW_TRACKING_TOKEN": "t"}
    for in_container in (False, True):
        seen = base_env(server, in_container=in_container, engine=False)
        assert seen == {"MLFLOW_TRACKING_URI": "https://mlflow.example.org"}
    local_store = {"MLFLOW_TRACKING_URI": "sqlite:////home/me/mlflow.db"}
    assert base_env(local_store, in_container=False, engine=False) == local_store
    assert base_env(local_store, in_container=True, engine=False) == {}  # a host path
    assert base_env({"MLFLOW_TRACKING_URI": "/srv/mlruns"}, in_container=True, engine=False) == {}


@pytest.mark.parametrize("uses", ["lockgate/sign", None])
def test_the_ci_oidc_identity_reaches_only_the_sign_stage(tmp_path, monkeypatch, uses) -> None:
    """Regression: the generated sign job has GitHub's ``id-token: write`` (or GitLab's
    ``id_tokens: SIGSTORE_ID_TOKEN``), but the stage never saw the request URL and token, so
    cosign could not sign keylessly. The real local executor runs a probe as that stage."""
    import threading

    from lockgate.engine.stagespec import ImageRecipe, StagePaths, StageSpec
    from lockgate.executors.local import LocalExecutor

    identity = {
        "ACTIONS_ID_TOKEN_REQUEST_URL": "https://pipelines.example/idtoken",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-9f2c",
        "SIGSTORE_ID_TOKEN": "eyJ-9f2c",
    }
    for name, value in identity.items():
        monkeypatch.setenv(name, value)
    recipe = ImageRecipe(
        digest="sha256:" + "ab" * 32, tag="r:ab", base="x:1", install_lockgate=False
    )
    probe = "; ".join(f'echo "{n}=${{{n}:-}}"' for n in sorted(identity))
    spec = StageSpec(name="sign", image=recipe, argv=("sh", "-c", probe), uses=uses)
    paths = StagePaths(
        workspace=tmp_path, inputs={}, out=tmp_path / "out", secrets_dir=tmp_path / "s",
        state=tmp_path / "state",
    )  # fmt: skip
    lines: list[str] = []
    outcome = LocalExecutor().run(
        spec, paths, run_id="r", git_sha="abc", secrets={}, output=lines.append,
        cancel=threading.Event(),
    )  # fmt: skip
    assert outcome.exit_code == 0, lines
    expected = identity if uses else dict.fromkeys(identity, "")
    assert lines == [f"{n}={v}" for n, v in sorted(expected.items())]
    in_container = base_env(identity, in_container=True, engine=False, signs=True)
    assert in_container == {}  # never in a container's or a query's configuration


def test_ci_urls_lose_their_credentials_and_gits_own_settings_stay_out() -> None:
    """GitLab's CI_REPOSITORY_URL carries the job token as the URL's password; git's own
    settings (TLS checks off, an askpass program, a config header) are not facts of the job."""
    host = {
        "GITLAB_CI": "true",
        "CI_REPOSITORY_URL": "https://gitlab-ci-token:glcbt-64-9f2c@gitlab.example/ml/churn.git",
        "CI_PROJECT_URL": "https://gitlab.example/ml/churn",
        "GIT_URL": "https://jenkins:ghp_9f2c@github.example/ml/churn.git",
        "GIT_URL_2": "ssh://git@github.example/ml/other.git",
        "GIT_COMMIT": "c0ffee",
        "GIT_BRANCH": "origin/main",
        "GIT_SSL_NO_VERIFY": "true",
        "GIT_SSL_CAINFO": "/etc/ci/ca.pem",
        "GIT_ASKPASS": "/usr/local/bin/askpass",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_VALUE_0": "AUTHORIZATION: basic 9f2c",
        "GIT_CONFIG_PARAMETERS": "'http.extraheader=AUTHORIZATION: basic 9f2c'",
    }
    for in_container in (False, True):
        seen = base_env(host, in_container=in_container, engine=False)
        assert seen == {
            "GITLAB_CI": "true",
            "CI_REPOSITORY_URL": "https://gitlab.example/ml/churn.git",
            "CI_PROJECT_URL": "https://gitlab.example/ml/churn",
            "GIT_URL": "https://github.example/ml/churn.git",
            "GIT_URL_2": "ssh://github.example/ml/other.git",
            "GIT_COMMIT": "c0ffee",
            "GIT_BRANCH": "origin/main",
        }
        assert "9f2c" not in repr(seen)


def test_the_image_source_label_and_provenance_hold_no_clone_credentials(
    tmp_path, monkeypatch
) -> None:
    from lockgate.stages.package.image import source_url
    from lockgate.stages.sign_config import ci_provenance

    for name in ("GITHUB_REPOSITORY", "CI_PROJECT_URL", "GIT_URL"):  # this run's own CI
        monkeypatch.delenv(name, raising=False)

    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(
        '[remote "origin"]\n\turl = https://x-access-token:ghs_9f2c@github.example/ml/churn\n'
    )
    assert source_url(None, tmp_path) == "https://github.example/ml/churn"
    jenkins = {"JENKINS_URL": "https://ci.example/", "JOB_NAME": "churn"}
    jenkins["GIT_URL"] = "https://bot:9f2c@git.example/churn.git"
    assert ci_provenance(jenkins)["source_repo"] == "git+https://git.example/churn.git"
