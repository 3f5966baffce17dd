"""The includable GitLab template and CI/CD component, rendered from the same hidden jobs that
generated pipelines inline, so the shipped files and generated files cannot drift apart."""

from __future__ import annotations

from lockgate.generator.gitlab import IMAGE_TEMPLATE, hidden_jobs
from lockgate.generator.public_images import BUILDER, DIND
from lockgate.generator.yamltext import cmap, dump

TEMPLATE_PATH = "gitlab-templates/lockgate.yml"
COMPONENT_PATH = "templates/lockgate/template.yml"
REGENERATE = "LOCKGATE_REGENERATE=1 python -m pytest tests/generator/test_golden.py"

_ABOUT = (
    "# lockgate's hidden jobs for GitLab CI. Generated jobs `extends: .lockgate-stage` (and the\n"
    "# image job `.lockgate-image`). Generated from lockgate/generator/gitlab.py; regenerate\n"
    f"# with `{REGENERATE}`.\n"
)


def template_text() -> str:
    doc = cmap()
    doc["variables"] = cmap(
        LOCKGATE_SPEC="lockgate.yaml", LOCKGATE_IMAGE_NAME="$CI_REGISTRY_IMAGE/runner"
    )
    doc.update(hidden_jobs(build_image=True))
    return dump(
        doc,
        _ABOUT + "# Include with `include: {project: ..., file: gitlab-templates/lockgate.yml}`.\n",
    )


def component_text() -> str:
    """A CI/CD component: typed ``spec: inputs``, then hidden jobs only — no global keywords,
    so including it never changes a pipeline's ``variables``, ``stages`` or ``workflow``."""
    spec = cmap()
    spec["spec"] = cmap(
        inputs=cmap(
            spec=cmap(type="string", default="lockgate.yaml", description="path of lockgate.yaml"),
            **{
                "image-name": cmap(
                    type="string",
                    default="$CI_REGISTRY_IMAGE/runner",
                    description="registry path the runner image is pushed to",
                ),
                "builder-image": cmap(
                    type="string",
                    default=BUILDER.image,
                    description="the image job's own image; NAME:TAG@sha256:... pins it",
                ),
                "dind-image": cmap(
                    type="string",
                    default=DIND.image,
                    description="the image job's Docker engine service; NAME:TAG@sha256:... "
                    "pins it",
                ),
            },
        )
    )
    doc = cmap()
    inputs = {BUILDER.image: "$[[ inputs.builder-image ]]", DIND.image: "$[[ inputs.dind-image ]]"}
    jobs = hidden_jobs(build_image=True, image=inputs.__getitem__)
    for name, job in jobs.items():
        variables = cmap(LOCKGATE_SPEC="$[[ inputs.spec ]]")
        if name == IMAGE_TEMPLATE:
            variables["LOCKGATE_IMAGE_NAME"] = "$[[ inputs.image-name ]]"
        variables.update(job.get("variables") or {})
        job["variables"] = variables
        doc[name] = job
    header = _ABOUT + (
        "# A CI/CD component: `include: [{component: HOST/PATH/lockgate@VERSION, inputs: "
        "{spec: lockgate.yaml}}]`,\n# or `lockgate generate gitlab --component "
        "HOST/PATH/lockgate@VERSION`.\n"
    )
    return dump(spec, header) + "---\n" + dump(doc)


SHIPPED = {TEMPLATE_PATH: template_text, COMPONENT_PATH: component_text}
