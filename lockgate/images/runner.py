"""Build the runner image a stage runs in, through the Docker Engine API.

A recipe with ``base`` becomes a generated Dockerfile: OS packages through apt, Python packages
from wheels downloaded *on the host* (containers here may not reach a package index, and an
air-gapped site mirrors one for hosts only), and lockgate's own source, so built-in stages run
as ``lockgate stage NAME``. The tag carries the recipe digest: an unchanged recipe is never
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import lockgate
from lockgate.contract import RECIPE_LABEL
from lockgate.engine.stagespec import ImageRecipe
from lockgate.errors import LockgateError
from lockgate.images.prune import STAGE_LABEL, older_images_hint, repository_of
from lockgate.images.wheels import cached_wheels, pinned_requirements

# what lockgate itself needs inside a runner image: pyproject's dependencies but rich, which only
# a terminal uses (tests/images check the two lists agree)
CORE_REQUIREMENTS = ("pydantic>=2.6,<3", "PyYAML>=6.0", "ruamel.yaml>=0.18", "packaging>=23")
_LAUNCHER = (
    "#!/opt/lockgate/bin/python3\\nimport sys\\n"
    "from lockgate.__main__ import main\\nsys.exit(main())\\n"
)
_build_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def dockerfile_for(recipe: ImageRecipe, python_deps: bool) -> str:
    """The generated Dockerfile. With Python packages it has two stages: the wheels are copied
    and installed in the first, and only the installed environment is copied into the image, so
    no layer of the image holds the wheels (a later ``rm`` would leave them in the layer of the
    ``COPY``, hundreds of MiB for torch, pushed and pulled with every image built on it)."""
    system = [f"FROM {recipe.base}" + (" AS system" if python_deps else "")]
    if recipe.packages:
        pkgs = " ".join(sorted(recipe.packages))
        system.append(
            "RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y "
            f"--no-install-recommends {pkgs} && rm -rf /var/lib/apt/lists/*"
        )
    lines = system
    if python_deps:
        # installed on the same system layers as the image, so compiled packages find the
        # libraries they were installed against
        lines += [
            "FROM system AS python",
            "COPY wheels /tmp/lockgate-wheels",
            "RUN python3 -m venv /opt/lockgate && /opt/lockgate/bin/pip install --no-index "
            "--no-cache-dir --disable-pip-version-check --find-links /tmp/lockgate-wheels "
            "-r /tmp/lockgate-wheels/requirements.txt",
            # the classic builder keeps this stage as an untagged image: named for image prune,
            # last, so that the install above stays one cached step for every spec that shares
            # its packages (a label first would make each spec's name a new install)
            f'LABEL {STAGE_LABEL}="{repository_of(recipe.tag)}"',
            "FROM system",
            "COPY --from=python /opt/lockgate /opt/lockgate",
        ]
    if recipe.install_lockgate:
        # compiled once here: with PYTHONDONTWRITEBYTECODE below, every stage process would
        # otherwise compile lockgate's modules from source again on start-up
        lines += [
            "COPY lockgate-src /opt/lockgate-src",
            f"RUN printf '{_LAUNCHER}' > /opt/lockgate/bin/lockgate"
            " && chmod 755 /opt/lockgate/bin/lockgate"
            " && /opt/lockgate/bin/python3 -m compileall -q /opt/lockgate-src",
        ]
    if python_deps:
        lines.append(
            "ENV PATH=/opt/lockgate/bin:$PATH PYTHONPATH=/opt/lockgate-src "
            "PYTHONDONTWRITEBYTECODE=1"
        )
    lines.append(f'LABEL {RECIPE_LABEL}="{recipe.digest}"')
    return "\n".join(lines) + "\n"


class RunnerImages:
    """Ensures runner images exist in one engine; builds each tag at most once at a time."""

    def __init__(
        self, client: Any, wheel_cache: Path | None = None, in_use: Iterable[str] = ()
    ) -> None:
        self.client = client
        self.wheel_cache = wheel_cache or Path.home() / ".cache" / "lockgate" / "wheels"
        self.in_use = frozenset(in_use)  # the spec's runner images: none of them is "older"

    def present(self, recipe: ImageRecipe) -> bool:
        """Whether the engine already has the image (no build needed)."""
        import docker.errors

        try:
            self.client.images.get(recipe.tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def ensure(self, recipe: ImageRecipe, output: Callable[[str], None]) -> str:
        import docker.errors

        with _locks_guard:
            lock = _build_locks.setdefault(recipe.tag, threading.Lock())
        with lock:
            try:
                return str(self.client.images.get(recipe.tag).id)
            except docker.errors.ImageNotFound:
                pass
            output(f"lockgate: building runner image {recipe.tag}")
            if recipe.dockerfile:
                ctx, dockerfile = Path(recipe.context or "."), recipe.dockerfile
                return self._build(ctx, str(Path(dockerfile).relative_to(ctx)), recipe, output)
            with tempfile.TemporaryDirectory(prefix="lockgate-image-") as tmp:
                ctx = Path(tmp)
                self._base_context(recipe, ctx)
                return self._build(ctx, "Dockerfile", recipe, output)

    def _base_context(self, recipe: ImageRecipe, ctx: Path) -> None:
        self._require_base(recipe)
        requirements = list(CORE_REQUIREMENTS) if recipe.install_lockgate else []
        if recipe.requirements:
            requirements += _read_requirements(Path(recipe.requirements))
        python_deps = bool(requirements)
        if python_deps:
            wheels = ctx / "wheels"
            self._download_wheels(requirements, recipe.base or "", wheels)
            pins = pinned_requirements(wheels) or requirements
            (wheels / "requirements.txt").write_text("\n".join(pins) + "\n")
        if recipe.install_lockgate:
            src = Path(lockgate.__file__).resolve().parent
            shutil.copytree(
                src,
                ctx / "lockgate-src" / "lockgate",
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        (ctx / "Dockerfile").write_text(dockerfile_for(recipe, python_deps))

    def _require_base(self, recipe: ImageRecipe) -> None:
        import docker.errors

        try:
            self.client.images.get(recipe.base)
        except docker.errors.ImageNotFound:
            raise LockgateError(
                f"image.base {recipe.base!r} is not in the engine; build one with "
                f"`lockgate image bootstrap --tag {recipe.base}` or pull it"
            ) from None

    def _download_wheels(self, requirements: list[str], base: str, target: Path) -> None:
        """Wheels for the image's Python, downloaded once per requirement set and reused."""
        version = self._image_python(base)
        key = hashlib.sha256(json.dumps([sorted(requirements), version]).encode()).hexdigest()[:16]
        download = ["download", "--quiet", "--disable-pip-version-check", *requirements]
        host = f"{sys.version_info.major}.{sys.version_info.minor}"
        if version != host:
            download += [
                "--only-binary=:all:",
                "--python-version",
                version,
                "--platform",
                "manylinux_2_28_x86_64",
                "--platform",
                "manylinux2014_x86_64",
            ]
        cached = cached_wheels(
            self.wheel_cache, key, lambda dest: [[*download, "--dest", str(dest)]]
        )
        shutil.copytree(cached, target, ignore=shutil.ignore_patterns(".complete"))

    def _image_python(self, base: str) -> str:
        try:
            out = self.client.containers.run(
                base,
                ["python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                remove=True,
                network_disabled=True,
            )
        except Exception as exc:  # the engine says why: no python3 in the image, mostly
            raise LockgateError(
                f"image.base {base!r}: cannot run python3 in it ({type(exc).__name__}); "
                "lockgate needs Python 3.11+ in the runner image (`lockgate image bootstrap` "
                "makes one)"
            ) from None
        return out.decode().strip()

    def _build(
        self, ctx: Path, dockerfile: str, recipe: ImageRecipe, output: Callable[[str], None]
    ) -> str:
        import docker.errors

        log: list[str] = []
        try:
            for chunk in self.client.api.build(
                path=str(ctx),
                dockerfile=dockerfile,
                tag=recipe.tag,
                rm=True,
                forcerm=True,
                decode=True,
                labels={RECIPE_LABEL: recipe.digest},
            ):
                if "stream" in chunk:
                    for line in chunk["stream"].splitlines():
                        if line.strip():
                            log.append(line)
                if "error" in chunk:
                    tail = " | ".join(log[-3:])
                    raise LockgateError(
                        f"runner image {recipe.tag}: build failed: {chunk['error'].strip()} "
                        f"(last steps: {tail})"
                    )
        except docker.errors.APIError as exc:
            raise LockgateError(
                f"runner image {recipe.tag}: engine refused the build: {exc.explanation}"
            ) from None
        output(f"lockgate: built {recipe.tag} ({len(log)} build lines)")
        hint = older_images_hint(self.client, recipe.tag, self.in_use)
        if hint:
            output(hint)
        return str(self.client.images.get(recipe.tag).id)


def _read_requirements(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def registry_tag(recipe_digest: str) -> str:
    """The tag a runner image carries in a registry: its recipe digest's first 20 hex digits, so
    the same recipe finds the same image in every pipeline run."""
    return recipe_digest.removeprefix("sha256:")[:20]


def push_image(client: Any, tag: str, repository: str, recipe_digest: str) -> str:
    """Push ``tag`` as ``repository:<recipe digest prefix>``; return ``repository@sha256:...``."""
    import docker.errors

    if "@" in repository or repository.rsplit("/", 1)[-1].count(":"):
        raise LockgateError(f"--push {repository}: give a repository without tag or digest")
    target_tag = registry_tag(recipe_digest)
    image = client.images.get(tag)
    image.tag(repository, target_tag)
    digest = ""
    try:
        for chunk in client.api.push(repository, tag=target_tag, stream=True, decode=True):
            if "error" in chunk:
                raise LockgateError(f"push to {repository} failed: {chunk['error'].strip()}")
            aux = chunk.get("aux") or {}
            digest = aux.get("Digest", digest)
    except docker.errors.APIError as exc:
        raise LockgateError(f"push to {repository} failed: {exc.explanation}") from None
    if not digest.startswith("sha256:"):
        raise LockgateError(f"push to {repository}: the registry returned no digest")
    return f"{repository}@{digest}"
