"""The CI image job on a registry hit against a rebuild: target <= 3 s for a hit.

`lockgate image build --push REPO` as the image job runs it, on a copy of pipelines/quickstart,
against a real docker-registry on loopback:

- rebuild: an empty registry (a fresh one each round) and a recipe it has never seen (a fresh
  requirements comment changes the recipe digest), so the command builds the runner image in
  the engine and pushes every layer. The engine keeps its layer cache, as a warm self-hosted
  runner would; a fresh hosted runner pays more;
- hit: the same recipe again, so the command finds `REPO:<recipe tag>` and builds nothing.

Rounds alternate rebuild and hit so that machine load falls on both alike, after one untimed
warm-up round; the images this benchmark tags are removed afterwards. The result goes to
benchmarks/results/image_job.json (machine, versions, load average, every run) and docs are
generated from it (``python -m benchmarks.published``).

Usage: python -m benchmarks.image_job [--rounds 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks import result_file

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_registry(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    host = f"127.0.0.1:{_free_port()}"
    config = root / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: error, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {root / 'data'}}}}}\nhttp: {{addr: {host}}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://{host}/v2/", timeout=1)
            return proc, host
        except OSError:
            time.sleep(0.05)
    raise SystemExit("registry did not start")


def _image_job(spec: Path, repository: str) -> tuple[float, str, str]:
    argv = [sys.executable, "-m", "lockgate", "image", "build", "--spec", str(spec)]
    argv += ["--push", repository, "--plain-http"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"image build failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout.strip().splitlines()[-1], done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-image-"))
    project = work / "quickstart"
    shutil.copytree(REPO / "pipelines/quickstart", project)
    spec = project / "lockgate.yaml"
    base = "  base: lockgate/debian:bookworm"
    spec.write_text(spec.read_text().replace(base, f"{base}\n  requirements: req.txt", 1))
    rebuild: list[float] = []
    hit: list[float] = []
    built: list[str] = []
    repositories: list[str] = []
    load_before = result_file.load()
    try:
        for round_ in range(args.warmup + args.rounds):
            seconds = _round(work, project, spec, round_, built, repositories)
            if round_ >= args.warmup:
                rebuild.append(seconds[0])
                hit.append(seconds[1])
    finally:
        _remove_images(repositories, built)
        shutil.rmtree(work, ignore_errors=True)
    path = result_file.write(
        "image_job",
        {
            "pipeline": "pipelines/quickstart (+ an empty requirements file per round)",
            "rounds": args.rounds,
            "warmup": args.warmup,
            "rebuild_s": {"median": statistics.median(rebuild), "runs": rebuild},
            "hit_s": {"median": statistics.median(hit), "runs": hit},
            "target_hit_s": 3.0,
            "load_average_before": load_before,
            "load_average_after": result_file.load(),
            "tools": _tool_versions(),
        },
        packages=("docker",),
    )
    print(path.read_text())


def _round(
    work: Path, project: Path, spec: Path, round_: int, built: list[str], repositories: list[str]
) -> tuple[float, float]:
    """One rebuild then one hit against a fresh registry: the rebuild pushes every layer, as a
    first CI run does. Returns both durations."""
    folder = work / f"registry-{round_}"
    folder.mkdir()
    proc, host = _start_registry(folder)
    repository = f"{host}/bench/quickstart-runner"
    repositories.append(repository)
    try:
        (project / "req.txt").write_text(f"# round {round_} {time.time_ns()}\n")
        rebuild, ref, err = _image_job(spec, repository)
        built += [ln.split()[-1] for ln in err.splitlines() if "building runner" in ln]
        hit, again, err = _image_job(spec, repository)
        if again != ref or "nothing to build" not in err:
            raise SystemExit(f"second run was not a hit: {again} vs {ref}\n{err}")
        return rebuild, hit
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()


def _tool_versions() -> dict[str, str]:
    """The engine that builds and the registry that answers: both set what a rebuild costs."""
    import docker

    client = docker.from_env()
    try:
        engine = str(client.version().get("Version", "unknown"))
    finally:
        client.close()
    done = subprocess.run(
        ["docker-registry", "--version"], capture_output=True, text=True, check=False
    )
    registry = done.stdout.split()[-1] if done.stdout.split() else "unknown"
    return {"docker engine": engine, "docker-registry": registry}


def _remove_images(repositories: list[str], built: list[str]) -> None:
    """Remove only the tags this benchmark made: its runner images and their pushed tags."""
    import docker

    client = docker.from_env()
    try:
        for tag in built:
            client.images.remove(tag, noprune=False)
        for repository in repositories:
            for image in client.images.list(name=repository):
                for tag in image.tags:
                    if tag.startswith(repository + ":"):
                        client.images.remove(tag, noprune=False)
    finally:
        client.close()


if __name__ == "__main__":
    main()
