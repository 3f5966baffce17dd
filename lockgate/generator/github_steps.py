"""Steps of a GitHub job that lockgate writes: pinned actions, bash steps, and what a job
without the runner image installs on a hosted runner; the wrapped data keys of a KMS key,
handed from job to job."""

from __future__ import annotations

import shlex
from typing import Any

from lockgate.generator.install import pip_install
from lockgate.generator.model import (
    IN_DIR,
    KEYS_ARTIFACT,
    WRAPPED_KEYS,
    WRAPPED_KEYS_FOLDER,
    CiPipeline,
    CiStage,
    GenerateError,
)
from lockgate.generator.pins import ACTION_PINS
from lockgate.generator.yamltext import block, cmap, comment_after

PYTHON = "3.11"


def uses(step: Any, action: str) -> Any:
    pin = ACTION_PINS[action]
    step["uses"] = pin.ref
    comment_after(step, "uses", pin.version)
    return step


def checkout() -> Any:
    step = uses(cmap(name="Check out"), "actions/checkout")
    step["with"] = cmap({"persist-credentials": False})
    return step


def run(name: str, command: str, **extra: Any) -> Any:
    step = cmap(name=name, **{k.replace("_", "-"): v for k, v in extra.items() if k != "id"})
    if "id" in extra:
        step.insert(0, "id", extra["id"])
    step["run"] = block(command) if "\n" in command else command
    step["shell"] = "bash"
    return step


def setup_python() -> Any:
    setup = uses(cmap(name="Set up Python"), "actions/setup-python")
    setup["with"] = cmap({"python-version": PYTHON})
    return setup


def hosted_setup(ci: CiPipeline, stage: CiStage) -> list[Any]:
    """Without the runner image, a hosted runner has neither lockgate nor the stage's packages:
    the job installs what the image recipe would have (self-hosted runners in shell mode are
    expected to have them). A Dockerfile's steps cannot be replayed on the runner."""
    if stage.dockerfile:
        raise GenerateError(
            f"{stage.image_field}.dockerfile: stage {stage.name} runs on a hosted runner with "
            f"--no-image, where nothing installs what {stage.dockerfile} does; generate without "
            f"--no-image, or give stages.{stage.name}.runner.labels of a self-hosted runner "
            "that has it"
        )
    steps = [setup_python(), run("Install lockgate", pip_install(ci.install))]
    if stage.os_packages:
        steps.append(
            run(
                "Install the stage's OS packages",
                "sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y "
                f"--no-install-recommends {shlex.join(stage.os_packages)}",
            )
        )
    if stage.requirements:
        steps.append(
            run(
                "Install the stage's requirements",
                f"python -m pip install -r {shlex.quote(stage.requirements)}",
            )
        )
    return steps


def upload_keys(stage: CiStage) -> Any:
    """The data key that seals the exported outputs, wrapped by the KMS key, as an artifact of
    its own: the stage's artifact holds only its folder, and the key is kept beside it."""
    upload = uses(
        cmap({"name": "Upload the wrapped data keys", "if": "always()"}), "actions/upload-artifact"
    )
    upload["with"] = cmap(
        {
            "name": KEYS_ARTIFACT + stage.name,
            "path": f"{WRAPPED_KEYS}/",
            "if-no-files-found": "ignore",  # a stage that exported nothing sealed nothing
            "include-hidden-files": True,
        }
    )
    return upload


def download_keys(need: str) -> Any:
    """An upstream's wrapped data keys into ``IN_DIR/.lockgate-keys``, where lockgate looks for
    the key of a sealed file under ``IN_DIR/NEED``. By pattern: no artifact, no error."""
    step = uses(cmap(name=f"Download the wrapped data keys of {need}"), "actions/download-artifact")
    step["with"] = cmap(
        {
            "pattern": KEYS_ARTIFACT + need,
            "path": f"{IN_DIR}/{WRAPPED_KEYS_FOLDER}",
            "merge-multiple": True,
        }
    )
    return step
