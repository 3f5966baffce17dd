"""Pipeline -> ordered StageSpecs: the DAG, the runner image recipes, stage selection."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lockgate
from lockgate.contract import (
    ENV_ENCRYPTION_CA,
    ENV_ENCRYPTION_CREDENTIALS,
    ENV_ENCRYPTION_KEY,
    ENV_ENCRYPTION_MINTED,
)
from lockgate.engine.digests import FileDigests, glob_files, sha256_json
from lockgate.engine.stagespec import ImageRecipe, StageSpec
from lockgate.errors import SpecError
from lockgate.spec.keys import is_envelope, minted_files

if TYPE_CHECKING:
    from lockgate.spec.models import Image, Pipeline, Stage

_PACKAGE_ROOT = Path(lockgate.__file__).resolve().parent
# built-in stages whose state folder holds data: ingest's dataset, train's checkpoints
KEEPS_DATA_IN_STATE = {"lockgate/ingest", "lockgate/train"}
# built-in stages that read sealed upstream outputs in place (lockgate.stages.upstream_files),
# so the engine hands them the sealed folders instead of opening them into plaintext
READS_SEALED_INPUTS = {"lockgate/train"}
# built-in stages that load models from the embedded MLflow store, sealed there by train
# (lockgate.stages.sealed_models)
OPENS_SEALED_MODELS = {"lockgate/evaluate", "lockgate/package"}


@dataclass(frozen=True)
class Plan:
    pipeline_name: str
    project: Path
    stages: tuple[StageSpec, ...]  # topological order; ties keep the spec's order
    encryption: str | None = None  # ``encryption.key``: outputs are sealed at rest with it
    # ``encryption.credentials`` (a KMS key's needs -> secret names), sorted
    encryption_credentials: tuple[tuple[str, str], ...] = ()
    encryption_ca: str | None = None  # ``encryption.ca_file``: the KMS's TLS trust
    # ``encryption.role_arn`` and ``sts_endpoint``, when stages are given minted credentials
    encryption_role: str | None = None
    encryption_sts: str | None = None
    # ``encryption.vault_policies`` and ``service_account``, when stages are given minted ones
    encryption_vault_policies: tuple[str, ...] = ()
    encryption_service_account: str | None = None

    def by_name(self) -> dict[str, StageSpec]:
        return {s.name: s for s in self.stages}

    def downstream_of(self, name: str) -> set[str]:
        out: set[str] = set()
        for s in self.stages:  # topological order: upstream first
            if name in s.needs or out & set(s.needs):
                out.add(s.name)
        return out

    def select(self, names: Iterable[str], *, only: bool = False) -> Plan:
        """The named stages and (unless ``only``) everything upstream of them."""
        table = self.by_name()
        wanted: set[str] = set()
        todo = list(names)
        for n in todo:
            if n not in table:
                import difflib

                close = difflib.get_close_matches(n, list(table), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise SpecError(f"--stage {n}: no such stage in {self.pipeline_name}{hint}")
        while todo:
            n = todo.pop()
            if n in wanted:
                continue
            wanted.add(n)
            if not only:
                todo.extend(table[n].needs)
        return replace(self, stages=tuple(s for s in self.stages if s.name in wanted))


def build_plan(pipeline: Pipeline, project: Path, files: FileDigests | None = None) -> Plan:
    files = files or FileDigests(None)
    default_image = image_recipe(pipeline.image, pipeline.name, project, files)
    order = topological_order({n: list(s.needs) for n, s in pipeline.stages.items()})
    specs = []
    for name in order:
        stage = pipeline.stages[name]
        image = (
            image_recipe(stage.image, pipeline.name, project, files)
            if stage.image
            else default_image
        )
        specs.append(_stage_spec(name, stage, image, pipeline))
    key = pipeline.encryption.key if pipeline.encryption else None
    creds = tuple(sorted(pipeline.encryption.credentials.items())) if pipeline.encryption else ()
    ca = pipeline.encryption.ca_file if pipeline.encryption else None
    minted = pipeline.encryption is not None and pipeline.encryption.stage_credentials == "minted"
    enc = pipeline.encryption if minted else None
    return Plan(
        pipeline.name,
        project,
        tuple(specs),
        key,
        creds,
        ca,
        enc.role_arn if enc else None,
        enc.sts_endpoint if enc else None,
        tuple(enc.vault_policies or ()) if enc else (),
        enc.service_account if enc else None,
    )


def _keeps_data_in_state(stage: Stage) -> bool:
    """Whether the stage seals data into its state folder, and so is given the key's name and
    the KMS credential secrets: an ingest only when it keeps a dataset between runs
    (``incremental`` or ``mode: stream``); a batch ingest's output is sealed by the engine, and
    its container receives neither."""
    if stage.uses == "lockgate/ingest":
        with_ = stage.with_ or {}
        return with_.get("incremental") is not None or with_.get("mode") == "stream"
    return stage.uses in KEEPS_DATA_IN_STATE


def _stage_spec(name: str, stage: Stage, image: ImageRecipe, pipeline: Pipeline) -> StageSpec:
    env = dict(stage.env)
    if stage.uses is not None:
        builtin = stage.uses.removeprefix("lockgate/")
        argv: tuple[str, ...] = ("lockgate", "stage", builtin)
        env["LOCKGATE_WITH"] = json.dumps(stage.with_, sort_keys=True, separators=(",", ":"))
        program = f"lockgate/{builtin}@{lockgate.__version__}+{lockgate_source_digest()[:12]}"
    elif isinstance(stage.run, str):
        argv, program = ("sh", "-c", stage.run), ""
    else:
        argv, program = tuple(stage.run or ()), ""  # the spec requires `run` or `uses`
    if pipeline.tracking_uri and "MLFLOW_TRACKING_URI" not in env:
        env["MLFLOW_TRACKING_URI"] = pipeline.tracking_uri
    secrets = list(stage.secrets)
    reads_sealed = bool(
        pipeline.encryption
        and stage.uses in READS_SEALED_INPUTS
        and not is_envelope(pipeline.encryption.key)  # a KMS data key is found beside the data
    )
    minted = False
    opens_models = stage.uses in OPENS_SEALED_MODELS
    if pipeline.encryption and (_keeps_data_in_state(stage) or reads_sealed or opens_models):
        key = pipeline.encryption.key  # the stage seals what it keeps in the state folder
        env[ENV_ENCRYPTION_KEY] = key
        creds = pipeline.encryption.credentials
        minted = pipeline.encryption.stage_credentials == "minted"
        if minted:  # the engine writes these files before each attempt (lockgate.engine.minting)
            creds = minted_files(key, creds)
            clash = sorted(set(secrets) & set(creds.values()))
            if clash:
                raise SpecError(
                    f"stages.{name}.secrets: {clash[0]!r} is the name of a minted credential's "
                    "file in the stage's secrets folder; rename that secret"
                )
        if creds:
            env[ENV_ENCRYPTION_CREDENTIALS] = json.dumps(creds, sort_keys=True)
        if minted:
            env[ENV_ENCRYPTION_MINTED] = "1"
        if pipeline.encryption.ca_file:
            env[ENV_ENCRYPTION_CA] = pipeline.encryption.ca_file
        plain = [] if key.startswith("file:") else [key]
        needed = [] if minted else list(creds.values()) if is_envelope(key) else plain
        secrets.extend(n for n in dict.fromkeys(needed) if n not in secrets)
    return StageSpec(
        name=name,
        image=image,
        argv=argv,
        env=tuple(sorted(env.items())),
        secrets=tuple(secrets),
        caches=tuple(sorted(stage.caches.items())),
        gpu=stage.gpu,
        needs=tuple(stage.needs),
        inputs=tuple(stage.inputs),
        outputs=tuple(stage.outputs),
        timeout=stage.timeout,
        retries=stage.retries,
        program_version=program,
        use_cache=stage.cache,
        uses=stage.uses,
        engine=stage.engine,
        reads_sealed=reads_sealed,
        minted_credentials=minted,
    )


def topological_order(graph: dict[str, list[str]]) -> list[str]:
    """Kahn's algorithm, stable: among ready stages the one declared first goes first."""
    position = {n: i for i, n in enumerate(graph)}
    remaining = {n: len(set(deps)) for n, deps in graph.items()}
    children: dict[str, list[str]] = {n: [] for n in graph}
    for n, deps in graph.items():
        for d in set(deps):
            children[d].append(n)
    import heapq

    ready = [(position[n], n) for n, c in remaining.items() if c == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for c in children[n]:
            remaining[c] -= 1
            if remaining[c] == 0:
                heapq.heappush(ready, (position[c], c))
    if len(order) != len(graph):
        raise SpecError("stages: dependency cycle (run `lockgate validate` for details)")
    return order


def image_recipe(
    image: Image, pipeline_name: str, project: Path, files: FileDigests
) -> ImageRecipe:
    """The recipe of a spec's ``image:`` block, with its content digest."""
    dockerfile = context = requirements = None
    if image.dockerfile:
        context_path = (project / image.context).resolve()
        dockerfile_path = (project / image.dockerfile).resolve()
        _must_exist(dockerfile_path, "image.dockerfile")
        _must_exist(context_path, "image.context")
        dockerfile, context = str(dockerfile_path), str(context_path)
    elif image.requirements:
        req = (project / image.requirements).resolve()
        _must_exist(req, "image.requirements")
        requirements = str(req)
    recipe = ImageRecipe(
        digest="",
        tag="",
        base=image.base,
        dockerfile=dockerfile,
        context=context,
        requirements=requirements,
        packages=tuple(image.packages),
        install_lockgate=image.lockgate,
    )
    return with_digest(recipe, pipeline_name, files)


def with_digest(recipe: ImageRecipe, pipeline_name: str, files: FileDigests) -> ImageRecipe:
    """The recipe with its digest (and so its tag) computed from the files it names now."""
    material: dict[str, Any] = {"lockgate": recipe.install_lockgate}
    if recipe.dockerfile and recipe.context:
        context_path = Path(recipe.context)
        _must_exist(Path(recipe.dockerfile), "image.dockerfile")
        material["dockerfile"] = files.digest(Path(recipe.dockerfile))
        material["context"] = {
            str(p.relative_to(context_path)): files.digest(p)
            for p in glob_files(context_path, ["**/*"])
        }
    else:
        material["base"] = recipe.base
        material["packages"] = list(recipe.packages)
        if recipe.requirements:
            _must_exist(Path(recipe.requirements), "image.requirements")
            material["requirements"] = files.digest(Path(recipe.requirements))
    if recipe.install_lockgate:
        material["lockgate_source"] = lockgate_source_digest(files)
    digest = sha256_json(material)
    return replace(
        recipe, digest=f"sha256:{digest}", tag=f"lockgate-runner/{pipeline_name}:{digest[:20]}"
    )


_SOURCE_DIGEST: list[str] = []


def lockgate_source_digest(files: FileDigests | None = None) -> str:
    """Digest of lockgate's own Python source: built-in stages and the image depend on it."""
    if not _SOURCE_DIGEST:
        files = files or FileDigests(None)
        table = {
            str(p.relative_to(_PACKAGE_ROOT)): files.digest(p)
            for p in sorted(_PACKAGE_ROOT.rglob("*.py"))
        }
        _SOURCE_DIGEST.append(sha256_json([lockgate.__version__, table]))
    return _SOURCE_DIGEST[0]


def _must_exist(path: Path, field: str) -> None:
    if not path.exists():
        raise SpecError(f"{field}: {path} does not exist; fix the path in lockgate.yaml")
