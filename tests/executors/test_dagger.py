"""The Dagger executor.

The chain tests need no engine: the SDK builds its GraphQL query lazily, so a ``dagger.Client()``
made without a connection (its ``Context`` holds a shared connection that opens only when a result
is awaited) yields real SDK objects whose ``_ctx.selections`` list every operation as
``Field(type_name, name, args)``. The integration test runs a real stage and is skipped where no
engine is reachable.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from lockgate.engine.stagespec import ImageRecipe, StagePaths, StageSpec, contract_env
from lockgate.errors import ExecutorUnavailable, LockgateError
from lockgate.executors.dagger import (
    EXIT_CANCELLED,
    EXIT_TIMEOUT,
    DaggerExecutor,
    ExecOutcome,
    HostDirs,
    build_container,
    emit,
    private_secret_files,
    supervise,
)

dagger = pytest.importorskip("dagger", reason="dagger-io is not installed (lockgate[dagger])")
anyio = pytest.importorskip("anyio", reason="anyio comes with dagger-io")

SECRET_VALUE = "s3cr3t-Value-9f8e"  # a value that appears nowhere else


def ops(obj: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(f.type_name, f.name, f.args) for f in obj._ctx.selections]


def op(obj: Any, name: str) -> list[dict[str, Any]]:
    return [args for _, field, args in ops(obj) if field == name]


def arg_text(args: dict[str, Any]) -> str:
    """The args as the query text would hold them, nested SDK objects left as a marker (they
    travel as IDs, resolved by separate queries)."""
    return json.dumps(args, default=lambda o: f"<{type(o).__name__}>")


def every_arg(obj: Any, trail: tuple[str, ...] = ()):
    """(trail, field, arg name, value) for every arg in obj's chain and in nested objects."""
    for field in obj._ctx.selections:
        for key, value in field.args.items():
            values = value if isinstance(value, list) else [value]
            for item in values:
                if hasattr(item, "_ctx"):
                    yield from every_arg(item, (*trail, f"{field.name}.{key}"))
                else:
                    yield trail, f"{field.type_name}.{field.name}", key, item


@pytest.fixture
def dag() -> Any:
    return dagger.Client()


@pytest.fixture
def paths(tmp_path: Path) -> StagePaths:
    for sub in ("ws", "prep", "feat", "out", "secrets", "state"):
        (tmp_path / sub).mkdir()
    return StagePaths(
        workspace=tmp_path / "ws",
        inputs={"prep": tmp_path / "prep", "feat": tmp_path / "feat"},
        out=tmp_path / "out",
        secrets_dir=tmp_path / "secrets",
        state=tmp_path / "state",
    )


def stage(**changes: Any) -> StageSpec:
    recipe = ImageRecipe(
        digest="sha256:" + "ab" * 32, tag="runner:ab", base="alpine:3.20", install_lockgate=False
    )
    fields: dict[str, Any] = {
        "name": "train",
        "image": recipe,
        "argv": ("python", "-m", "train", "--epochs", "2"),
        "env": (("SEED", "7"),),
        "secrets": ("hf-token",),
        "caches": (("pip", "/root/.cache/pip"), ("hf-hub", "/root/.cache/huggingface")),
    }
    return StageSpec(**{**fields, **changes})


def chain(dag: Any, spec: StageSpec, paths: StagePaths, **kw: Any) -> Any:
    return build_container(
        dag,
        spec,
        paths,
        pipeline="fraud",
        run_id="run-42",
        git_sha="c0ffee",
        secret_files=kw.pop("secret_files", {"hf-token": Path("/tmp/s/hf-token")}),
        host_dirs=kw.pop("host_dirs", HostDirs()),
        host_env=kw.pop("host_env", None),
    )


def test_image_comes_first_and_the_stage_exec_last(dag: Any, paths: StagePaths) -> None:
    spec = stage()
    c = chain(dag, spec, paths)
    selections = ops(c)
    assert selections[0] == ("Query", "container", {})
    assert selections[1] == ("Container", "from", {"address": "alpine:3.20"})
    assert selections[-2] == ("Container", "withWorkdir", {"path": "/workspace"})
    # ANY: a non-zero exit is the stage's verdict, read back with exit_code(), not an error
    assert selections[-1] == (
        "Container",
        "withExec",
        {"args": list(spec.argv), "expect": dagger.ReturnType.ANY.name},
    )
    assert [s for s in selections if s[1] == "withExec"] == [selections[-1]]


def test_env_is_the_stage_contract(dag: Any, paths: StagePaths) -> None:
    spec = stage()
    c = chain(dag, spec, paths)
    env = {a["name"]: a["value"] for a in op(c, "withEnvVariable")}
    assert env == contract_env(
        spec, run_id="run-42", git_sha="c0ffee", paths=paths, in_container=True
    )
    assert env["LOCKGATE_WORKSPACE"] == "/workspace"
    assert env["LOCKGATE_IN"] == "/lockgate/in"
    assert env["LOCKGATE_OUT"] == "/lockgate/out"
    assert env["LOCKGATE_SECRETS"] == "/run/secrets"
    assert env["LOCKGATE_STATE"] == str(paths.state)
    assert env["LOCKGATE_RUN_ID"] == "run-42"
    assert env["LOCKGATE_STAGE"] == "train"
    assert env["LOCKGATE_GIT_SHA"] == "c0ffee"
    assert env["LOCKGATE_IMAGE_DIGEST"] == spec.image.digest
    assert env["LOCKGATE_CACHE_HF_HUB"] == "/root/.cache/huggingface"
    assert env["SEED"] == "7"
    assert not any(SECRET_VALUE in v for v in env.values())


def test_env_adds_only_the_base_of_the_host(dag: Any, paths: StagePaths) -> None:
    spec = stage()
    host = {
        "LANG": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "CI": "true",
        "GITHUB_TOKEN": "ghs_secret",
        "HF_TOKEN": SECRET_VALUE,
        "PATH": "/host/bin",
        "UNRELATED": "x",
    }
    c = chain(dag, spec, paths, host_env=host)
    env = {a["name"]: a["value"] for a in op(c, "withEnvVariable")}
    contract = contract_env(spec, run_id="run-42", git_sha="c0ffee", paths=paths, in_container=True)
    assert {k: v for k, v in env.items() if k not in contract} == {
        "LANG": "C.UTF-8",
        "HTTPS_PROXY": "http://proxy:3128",
        "CI": "true",
    }


def test_workspace_inputs_out_and_state_are_mounted(dag: Any, paths: StagePaths) -> None:
    c = chain(dag, stage(), paths)
    mounted = {a["path"]: a for a in op(c, "withMountedDirectory")}
    copied = {a["path"]: a for a in op(c, "withDirectory")}
    assert set(mounted) == {"/workspace", "/lockgate/in/prep", "/lockgate/in/feat"}
    assert all(a["readOnly"] is True for a in mounted.values())
    assert ops(mounted["/workspace"]["source"]) == [
        ("Query", "host", {}),
        ("Host", "directory", {"path": str(paths.workspace), "exclude": [".lockgate", ".git"]}),
    ]
    assert ops(mounted["/lockgate/in/prep"]["source"])[-1] == (
        "Host",
        "directory",
        {"path": str(paths.inputs["prep"])},
    )
    assert ops(mounted["/lockgate/in/feat"]["source"])[-1][2] == {"path": str(paths.inputs["feat"])}
    # /lockgate/in and /lockgate/out start empty; the state folder keeps the host's own path
    assert ops(copied["/lockgate/in"]["source"]) == [("Query", "directory", {})]
    assert ops(copied["/lockgate/out"]["source"]) == [("Query", "directory", {})]
    assert ops(copied[str(paths.state)]["source"])[-1] == (
        "Host",
        "directory",
        {"path": str(paths.state)},
    )


def test_caches_are_volumes_named_after_pipeline_and_cache(dag: Any, paths: StagePaths) -> None:
    c = chain(dag, stage(), paths)
    caches = {a["path"]: ops(a["cache"]) for a in op(c, "withMountedCache")}
    assert caches == {
        "/root/.cache/pip": [("Query", "cacheVolume", {"key": "lockgate-fraud-pip"})],
        "/root/.cache/huggingface": [("Query", "cacheVolume", {"key": "lockgate-fraud-hf-hub"})],
    }


def test_secrets_are_mounted_from_host_files_by_uri(dag: Any, paths: StagePaths) -> None:
    files = {"hf-token": Path("/tmp/s/hf-token"), "db": Path("/tmp/s/db")}
    c = chain(dag, stage(secrets=("hf-token", "db")), paths, secret_files=files)
    mounts = op(c, "withMountedSecret")
    assert [m["path"] for m in mounts] == ["/run/secrets/hf-token", "/run/secrets/db"]
    assert [ops(m["source"]) for m in mounts] == [
        [("Query", "secret", {"uri": "file:///tmp/s/hf-token"})],
        [("Query", "secret", {"uri": "file:///tmp/s/db"})],
    ]
    assert op(c, "withSecretVariable") == []  # never as environment variables


def test_credentials_minted_for_a_stage_are_mounted_beside_its_own_secrets(
    dag: Any, paths: StagePaths
) -> None:
    """The engine hands a stage with ``stage_credentials: minted`` files it did not list."""
    files = {"db": Path("/tmp/s/db"), "minted-aws-session-token": Path("/tmp/s/tok")}
    spec = stage(secrets=("db",), minted_credentials=True)
    mounts = op(chain(dag, spec, paths, secret_files=files), "withMountedSecret")
    assert [m["path"] for m in mounts] == [
        "/run/secrets/db",
        "/run/secrets/minted-aws-session-token",
    ]
    assert ops(mounts[1]["source"]) == [("Query", "secret", {"uri": "file:///tmp/s/tok"})]


def test_no_query_carries_a_secret_value(dag: Any, paths: StagePaths, tmp_path: Path) -> None:
    """Through the executor's own file step: the whole tree of selections, nested objects
    included, holds file URIs only."""
    secrets = {"hf-token": SECRET_VALUE, "db": "pg-pass-77"}
    with private_secret_files(secrets) as files:
        c = chain(dag, stage(secrets=("hf-token", "db")), paths, secret_files=files)
        texts = [arg_text({key: value}) for _, _, key, value in every_arg(c)]
        assert texts, "the walk found no args"
        assert not any(v in text for v in secrets.values() for text in texts)
        assert any(f"file://{files['db']}" in text for text in texts)


def test_secret_files_are_private_and_removed_afterwards() -> None:
    with private_secret_files({"hf-token": SECRET_VALUE, "db": "pg\nmulti"}) as files:
        folder = files["db"].parent
        assert folder.stat().st_mode & 0o777 == 0o700
        assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
            "hf-token": 0o600,
            "db": 0o600,
        }
        assert files["hf-token"].read_text() == SECRET_VALUE
        assert files["db"].read_text() == "pg\nmulti"
    assert not folder.exists()


def test_missing_secret_value_is_a_clear_error(dag: Any, paths: StagePaths) -> None:
    with pytest.raises(LockgateError, match=r"stage train: secret 'hf-token' has no value"):
        chain(dag, stage(), paths, secret_files={})


@pytest.mark.parametrize(
    ("gpu", "expected"),
    [
        (0, []),
        ("all", [("Container", "experimentalWithAllGPUs", {})]),
        (2, [("Container", "experimentalWithGPU", {"devices": ["0", "1"]})]),
    ],
)
def test_gpu_op_present_iff_the_stage_asks(
    dag: Any, paths: StagePaths, gpu: Any, expected: list[Any]
) -> None:
    c = chain(dag, stage(gpu=gpu), paths)
    assert [s for s in ops(c) if s[1].startswith("experimental")] == expected


def test_dockerfile_recipe_builds_from_the_host_context(
    dag: Any, paths: StagePaths, tmp_path: Path
) -> None:
    recipe = ImageRecipe(
        digest="sha256:cd",
        tag="t",
        dockerfile=str(tmp_path / "ctx/ci/Dockerfile"),
        context=str(tmp_path / "ctx"),
        install_lockgate=False,
    )
    selections = ops(chain(dag, stage(image=recipe), paths))
    assert selections[:3] == [
        ("Query", "host", {}),
        ("Host", "directory", {"path": str(tmp_path / "ctx")}),
        ("Directory", "dockerBuild", {"dockerfile": "ci/Dockerfile"}),
    ]


def test_dockerfile_outside_its_context_is_copied_in(
    dag: Any, paths: StagePaths, tmp_path: Path
) -> None:
    recipe = ImageRecipe(
        digest="sha256:cd",
        tag="t",
        dockerfile=str(tmp_path / "Dockerfile"),
        context=str(tmp_path / "ctx"),
        install_lockgate=False,
    )
    selections = ops(chain(dag, stage(image=recipe), paths))
    assert selections[2][:2] == ("Directory", "withFile")
    assert selections[2][2]["path"] == ".lockgate.Dockerfile"
    assert ops(selections[2][2]["source"])[-1] == (
        "Host",
        "file",
        {"path": str(tmp_path / "Dockerfile")},
    )
    assert selections[3] == ("Directory", "dockerBuild", {"dockerfile": ".lockgate.Dockerfile"})


def test_base_image_from_a_local_tarball(dag: Any, paths: StagePaths, tmp_path: Path) -> None:
    archive = tmp_path / "bookworm.tar"
    recipe = ImageRecipe(
        digest="sha256:ef", tag="t", base="lockgate/debian:bookworm", install_lockgate=False
    )
    c = chain(dag, stage(image=recipe), paths, host_dirs=HostDirs(base_archive=archive))
    selections = ops(c)
    assert selections[1][:2] == ("Container", "import")
    assert ops(selections[1][2]["source"]) == [
        ("Query", "host", {}),
        ("Host", "file", {"path": str(archive)}),
    ]
    assert op(c, "from") == []


def test_base_with_packages_requirements_and_lockgate(
    dag: Any, paths: StagePaths, tmp_path: Path
) -> None:
    wheels, req = tmp_path / "wheels", tmp_path / "requirements.txt"
    recipe = ImageRecipe(
        digest="sha256:01",
        tag="t",
        base="lockgate/debian:bookworm",
        requirements=str(req),
        packages=("git", "curl"),
    )
    c = chain(dag, stage(image=recipe), paths, host_dirs=HostDirs(wheelhouse=wheels))
    apt, pip, stage_exec = op(c, "withExec")
    assert apt["args"][-3:] == ["1", "git", "curl"]  # 1: python3 and pip are needed
    assert "apt-get install" in apt["args"][2]
    assert pip["args"][3:] == [
        "/tmp/lockgate-wheels",
        "-r",
        "/tmp/lockgate-requirements.txt",
        "lockgate",
    ]
    assert "--no-index" in pip["args"][2]
    assert ops(op(c, "withMountedDirectory")[0]["source"])[-1][2] == {"path": str(wheels)}
    assert ops(op(c, "withMountedFile")[0]["source"])[-1][2] == {"path": str(req)}
    # the wheelhouse and requirements are unmounted before the stage runs
    names = [s[1] for s in ops(c)]
    assert names.index("withoutMount") > names.index("withExec")
    assert [a["path"] for a in op(c, "withoutMount")] == [
        "/tmp/lockgate-wheels",
        "/tmp/lockgate-requirements.txt",
    ]
    assert stage_exec["args"] == list(stage().argv)


def test_pip_step_without_a_wheelhouse_is_an_error(dag: Any, paths: StagePaths) -> None:
    recipe = ImageRecipe(digest="sha256:02", tag="runner:02", base="debian:bookworm")
    with pytest.raises(LockgateError, match="image runner:02: no wheelhouse"):
        chain(dag, stage(image=recipe), paths)


def test_host_dirs_take_a_local_tarball_for_its_base_and_fetch_no_wheels_unasked(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "bookworm.tar"
    executor = DaggerExecutor(
        pipeline="fraud",
        image_archives={"lockgate/debian:bookworm": archive},
        wheel_cache=tmp_path / "wheels",
    )
    bookworm = ImageRecipe(
        digest="sha256:03", tag="t", base="lockgate/debian:bookworm", install_lockgate=False
    )
    alpine = ImageRecipe(digest="sha256:04", tag="t", base="alpine:3.20", install_lockgate=False)
    assert executor.host_dirs(bookworm) == HostDirs(base_archive=archive)
    assert executor.host_dirs(alpine) == HostDirs()
    assert not (tmp_path / "wheels").exists()


def test_check_says_how_to_get_an_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DAGGER_SESSION_PORT", raising=False)
    monkeypatch.delenv("DAGGER_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ExecutorUnavailable) as err:
        DaggerExecutor(pipeline="fraud").check()
    message = str(err.value)
    assert "no Dagger engine reachable" in message
    assert "dagger run lockgate run" in message
    assert "--executor docker" in message


def test_check_accepts_a_dagger_run_session(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("DAGGER_SESSION_PORT", "41234")
    monkeypatch.setenv("DAGGER_SESSION_TOKEN", "t")
    DaggerExecutor(pipeline="fraud").check()


def test_check_accepts_a_dagger_cli_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("DAGGER_SESSION_PORT", raising=False)
    cli = tmp_path / "dagger"
    cli.write_text("#!/bin/sh\n")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    DaggerExecutor(pipeline="fraud").check()


def test_output_is_split_into_lines_with_secrets_masked() -> None:
    lines: list[str] = []
    emit(f"token={SECRET_VALUE}\nok\npart:{SECRET_VALUE}-tail\n", {"t": SECRET_VALUE}, lines.append)
    assert lines == ["token=***", "ok", "part:***-tail"]


def test_supervise_passes_the_outcome_through() -> None:
    async def work() -> ExecOutcome:
        return ExecOutcome(exit_code=3, image_id="sha256:x")

    outcome = anyio.run(lambda: supervise(work, timeout=5, cancel=threading.Event()))
    assert outcome == ExecOutcome(exit_code=3, image_id="sha256:x")


def test_supervise_times_out() -> None:
    async def work() -> ExecOutcome:
        await anyio.sleep(10)
        return ExecOutcome(exit_code=0)

    started = time.monotonic()
    outcome = anyio.run(lambda: supervise(work, timeout=0.2, cancel=threading.Event()))
    assert outcome == ExecOutcome(exit_code=EXIT_TIMEOUT, timed_out=True)
    assert time.monotonic() - started < 5


def test_supervise_stops_when_cancelled() -> None:
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()

    async def work() -> ExecOutcome:
        await anyio.sleep(10)
        return ExecOutcome(exit_code=0)

    outcome = anyio.run(lambda: supervise(work, timeout=None, cancel=cancel))
    assert outcome == ExecOutcome(exit_code=EXIT_CANCELLED, interrupted=True)


def test_supervise_raises_the_work_error_itself() -> None:
    async def work() -> ExecOutcome:
        raise LockgateError("stage x: broken")

    with pytest.raises(LockgateError, match="stage x: broken"):
        anyio.run(lambda: supervise(work, timeout=5, cancel=threading.Event()))


def test_a_session_that_is_gone_makes_the_executor_unavailable(
    monkeypatch: pytest.MonkeyPatch, paths: StagePaths
) -> None:
    """A real SDK connection attempt to a loopback port nothing listens on (a `dagger run`
    session that has ended)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("DAGGER_SESSION_PORT", str(port))
    monkeypatch.setenv("DAGGER_SESSION_TOKEN", "token")
    with pytest.raises(ExecutorUnavailable, match="executor dagger: cannot reach the engine"):
        DaggerExecutor(pipeline="fraud").run(
            stage(secrets=()),
            paths,
            run_id="r",
            git_sha="",
            secrets={},
            output=print,
            cancel=threading.Event(),
        )


def test_importing_the_executor_does_not_import_the_sdk() -> None:
    code = "import sys, lockgate.executors.dagger; print('dagger' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


ENGINE = bool(os.environ.get("DAGGER_SESSION_PORT")) or shutil.which("dagger") is not None


@pytest.mark.skipif(
    not ENGINE,
    reason="no Dagger engine: DAGGER_SESSION_PORT is unset and `dagger` is not on PATH "
    "(run the suite under `dagger run pytest` to include this test)",
)
@pytest.mark.slow
def test_a_real_stage_runs_on_the_engine(paths: StagePaths) -> None:
    """Runs a shell stage in a small public image (override with LOCKGATE_DAGGER_TEST_IMAGE)."""
    (paths.workspace / "hello.txt").write_text("hello from the workspace\n")
    (paths.inputs["prep"] / "rows.csv").write_text("a,b\n")
    script = (
        'cp /workspace/hello.txt "$LOCKGATE_OUT/copy.txt"; '
        'ls "$LOCKGATE_IN/prep" > "$LOCKGATE_OUT/inputs.txt"; '
        'echo "$LOCKGATE_STAGE $LOCKGATE_RUN_ID" > "$LOCKGATE_OUT/who.txt"; '
        'echo "$LOCKGATE_RUN_ID" > "$LOCKGATE_STATE/last-run"; '
        'echo "token is $(cat /run/secrets/hf-token)"; '
        "touch /workspace/x 2>/dev/null && echo writable || echo read-only; exit 3"
    )
    image = os.environ.get("LOCKGATE_DAGGER_TEST_IMAGE", "alpine:3.20")
    recipe = ImageRecipe(digest="sha256:" + "0" * 64, tag="t", base=image, install_lockgate=False)
    spec = StageSpec(name="probe", image=recipe, argv=("sh", "-c", script), secrets=("hf-token",))
    lines: list[str] = []
    outcome = DaggerExecutor("itest").run(
        spec,
        paths,
        run_id="run-7",
        git_sha="",
        secrets={"hf-token": SECRET_VALUE},
        output=lines.append,
        cancel=threading.Event(),
    )
    assert outcome.exit_code == 3
    assert outcome.image_id.startswith("sha256:")
    assert (paths.out / "copy.txt").read_text() == "hello from the workspace\n"
    assert (paths.out / "inputs.txt").read_text() == "rows.csv\n"
    assert (paths.out / "who.txt").read_text() == "probe run-7\n"
    assert (paths.state / "last-run").read_text() == "run-7\n"
    assert "token is ***" in lines and "read-only" in lines
    assert not any(SECRET_VALUE in line for line in lines)

    slow = StageSpec(name="slow", image=recipe, argv=("sleep", "60"), timeout=3)
    outcome = DaggerExecutor("itest").run(
        slow,
        paths,
        run_id="run-8",
        git_sha="",
        secrets={},
        output=lines.append,
        cancel=threading.Event(),
    )
    assert outcome.timed_out and outcome.exit_code == EXIT_TIMEOUT


def test_engine_true_forwards_the_host_engine_socket(
    dag: Any, paths: StagePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_path = tmp_path / "engine.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        monkeypatch.setenv("DOCKER_HOST", f"unix://{sock_path}")
        c = chain(dag, stage(engine=True), paths)
    mounts = op(c, "withUnixSocket")
    assert [m["path"] for m in mounts] == ["/var/run/docker.sock"]
    assert ops(mounts[0]["source"])[-1] == ("Host", "unixSocket", {"path": str(sock_path)})
    assert {"name": "DOCKER_HOST", "value": "unix:///var/run/docker.sock"} in op(
        c, "withEnvVariable"
    )
    assert op(chain(dag, stage(), paths), "withUnixSocket") == []


def test_engine_true_without_a_socket_is_a_clear_error(
    dag: Any, paths: StagePaths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")
    with pytest.raises(LockgateError, match="stage train: engine: true needs the container"):
        chain(dag, stage(engine=True), paths)


def test_a_fake_dagger_binary_on_path_is_never_picked_unasked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lockgate.executors import choose_executor

    marker = tmp_path / "ran"
    cli = tmp_path / "bin" / "dagger"
    cli.parent.mkdir()
    cli.write_text(f"#!/bin/sh\ntouch {marker}\n")
    cli.chmod(0o755)
    monkeypatch.setenv("PATH", f"{cli.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("DAGGER_SESSION_PORT", raising=False)
    monkeypatch.delenv("DAGGER_SESSION_TOKEN", raising=False)
    warnings: list[str] = []
    executor = choose_executor(None, warnings.append)
    assert not isinstance(executor, DaggerExecutor)
    assert not marker.exists()
    # Asked for by name, the installed CLI is still accepted (the SDK starts an engine with it).
    assert isinstance(choose_executor("dagger", warnings.append), DaggerExecutor)


def _query_server(answer: bytes) -> Any:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_auto_pick_needs_a_session_that_answers_a_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Dagger engine can run here, so the answering side is a stand-in HTTP server that
    speaks the one GraphQL reply the check reads; a dead port and a server that is not an
    engine must both be refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    monkeypatch.setenv("DAGGER_SESSION_TOKEN", "token")
    monkeypatch.setenv("DAGGER_SESSION_PORT", str(dead))
    with pytest.raises(ExecutorUnavailable, match="no Dagger engine answered"):
        DaggerExecutor(pipeline="fraud").auto_check()
    other = _query_server(b"<html>not an engine</html>")
    engine = _query_server(b'{"data": {"__typename": "Query"}}')
    try:
        monkeypatch.setenv("DAGGER_SESSION_PORT", str(other.server_address[1]))
        with pytest.raises(ExecutorUnavailable, match="no Dagger engine answered"):
            DaggerExecutor(pipeline="fraud").auto_check()
        monkeypatch.setenv("DAGGER_SESSION_PORT", str(engine.server_address[1]))
        DaggerExecutor(pipeline="fraud").auto_check()
    finally:
        for server in (other, engine):
            server.shutdown()
            server.server_close()


def test_scan_and_sign_get_the_hosts_pinned_tools(
    dag: Any, paths: StagePaths, trivy_bin: Path, cosign_bin: Path
) -> None:
    from lockgate.executors.stage_tools import CONTAINER_TOOLS

    env = {"LOCKGATE_TRIVY": str(trivy_bin), "LOCKGATE_COSIGN": str(cosign_bin)}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        scan = chain(dag, stage(uses="lockgate/scan", secrets=()), paths, secret_files={})
        sign = chain(dag, stage(uses="lockgate/sign", secrets=()), paths, secret_files={})
        plain = chain(dag, stage(secrets=()), paths, secret_files={})
    for c, tool in ((scan, trivy_bin), (sign, cosign_bin)):
        name = tool.name
        mounted = op(c, "withMountedFile")
        assert [m["path"] for m in mounted] == [f"{CONTAINER_TOOLS}/{name}"]
        assert [a["path"] for a in op(mounted[0]["source"], "file")] == [str(tool.resolve())]
        env_set = {a["name"]: a["value"] for a in op(c, "withEnvVariable")}
        variable = "LOCKGATE_TRIVY" if name == "trivy" else "LOCKGATE_COSIGN"
        assert env_set[variable] == f"{CONTAINER_TOOLS}/{name}"
    assert op(plain, "withMountedFile") == []
