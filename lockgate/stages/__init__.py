"""Built-in stages, used in a spec as ``uses: lockgate/NAME``.

Each entry maps the name to ``module:function``; the function takes a
:class:`~lockgate.stages.context.StageContext` and returns the process exit code. Modules are
imported only when their stage runs, so the heavy libraries they need stay off the CLI's path.
"""

from __future__ import annotations

BUILTIN_STAGES: dict[str, str] = {
    "data-check": "lockgate.stages.data_check:main",
    "evaluate": "lockgate.stages.evaluate:main",
    "ingest": "lockgate.stages.ingest:main",
    "package": "lockgate.stages.package:main",
    "scan": "lockgate.stages.scan:main",
    "sign": "lockgate.stages.sign:main",
    "train": "lockgate.stages.train:main",
}

# The model of each built-in stage's ``with:`` block (``module:Class``, imported only when used).
# ``lockgate validate`` checks every ``uses:`` stage's block against it, reporting each problem at
# its line in the spec, so a typo fails before a run.
STAGE_MODELS: dict[str, str] = {
    "data-check": "lockgate.stages.data_check.spec:DataCheckSpec",
    "evaluate": "lockgate.stages.evaluate.config:EvaluateConfig",
    "ingest": "lockgate.stages.ingest.config:IngestConfig",
    "package": "lockgate.stages.package.config:PackageConfig",
    "scan": "lockgate.stages.scan:ScanConfig",
    "sign": "lockgate.stages.sign_config:SignConfig",
    "train": "lockgate.stages.train.config:TrainConfig",
}

# Checks past the model (thresholds that must parse, values that must agree), run by validate
# once the model accepts the block.
STAGE_CONFIGS: dict[str, str] = {
    "data-check": "lockgate.stages.data_check.spec:parse_spec",
    "evaluate": "lockgate.stages.evaluate.config:parse_evaluate_config",
    "ingest": "lockgate.stages.ingest.config:parse_ingest_config",
    "train": "lockgate.stages.train.config:parse_train_config",
}
