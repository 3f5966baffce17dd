"""Every image reference in every generated file (each example spec, the reference pipelines
among them, and the shipped GitLab templates) is pinned by digest, set elsewhere (the runner image
the image job outputs), or a floating tag that ``generate`` reports with how to pin it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from generator_examples import EXAMPLE_NAMES, EXAMPLES, PROVIDER_NAMES, REPO

from lockgate.__main__ import main
from lockgate.generator.gitlab_templates import SHIPPED
from lockgate.generator.image_audit import image_uses
from lockgate.generator.public_images import PUBLIC_IMAGES
from lockgate.generator.render import render_files
from lockgate.generator.rendered import Rendered
from lockgate.generator.yamltext import load

DIGEST = "sha256:" + "0123456789abcdef" * 4
_IMAGE_LINE = re.compile(r"^\s*(?:-\s+)?image:\s+(.+?)\s*$")


def _rendered(example: str, provider: str, root: Path | None = None) -> list[Rendered]:
    root = root or EXAMPLES / example
    return render_files(provider=provider, spec=root / "lockgate.yaml", root=root)


def _image_lines(text: str) -> set[str]:
    """``image:`` values and ``services:`` items (text, or the ``name:`` on an item's first line),
    read line by line: independent of the audit's walk over the parsed YAML."""
    found = set()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _IMAGE_LINE.match(line)
        if match:
            found.add(match.group(1).strip("'\""))
        if line.strip() == "services:":
            for item in lines[i + 1 :]:
                if not item.strip().startswith("- "):
                    break
                entry = item.strip()[2:].removeprefix("name:").strip()  # text or {name: ...}
                found.add(entry.strip("'\""))
    return found


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_every_image_reference_is_pinned_indirect_or_a_listed_public_image(
    example: str, provider: str
) -> None:
    for rendered in _rendered(example, provider):
        uses = image_uses(rendered)
        for use in uses:
            if use.kind == "floating":
                # the one table knows it, so --pin-images can pin it
                assert use.ref in PUBLIC_IMAGES, f"{use}: add it to public_images.py"
                assert provider in PUBLIC_IMAGES[use.ref].providers
            elif use.kind == "indirect":
                assert use.ref.startswith("$"), use
        # nothing that reads like an image escapes the audit
        assert _image_lines(rendered.text) <= {u.ref for u in uses}, rendered.path
        for image in PUBLIC_IMAGES:  # each time the text names one, the audit saw it
            lines = [n for n, line in enumerate(rendered.text.splitlines(), 1) if image in line]
            assert lines == sorted(u.line for u in uses if u.ref.partition("@")[0] == image), (
                rendered.path,
                image,
            )


@pytest.mark.parametrize("example", [n for n in EXAMPLE_NAMES if n.startswith("pipeline-")])
def test_generate_warns_for_each_floating_image_with_how_to_pin_it(
    example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / example
    root.mkdir()
    shutil.copy(EXAMPLES / example / "lockgate.yaml", root / "lockgate.yaml")
    assert main(["generate", "all", "--root", str(root)]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    expected = [u for f in _rendered(example, "all", root) for u in image_uses(f)]
    floating = [u for u in expected if u.kind == "floating"]
    assert len(warnings) == len(floating)
    for use, warning in zip(floating, warnings, strict=True):
        assert warning.startswith(f"warning: {use.path}:{use.line}: image {use.ref} ")
        assert "floating tag" in warning
        assert "lockgate generate all --pin-images" in warning
        assert f"{use.ref}@sha256:<digest> to ci.images" in warning
        assert use.ref in (root / use.path).read_text().splitlines()[use.line - 1]

    assert main(["generate", "all", "--root", str(root), "--check"]) == 0
    strict = main(["generate", "all", "--root", str(root), "--check", "--require-digests"])
    assert strict == (1 if floating else 0)


@pytest.mark.parametrize("example", [n for n in EXAMPLE_NAMES if n.startswith("pipeline-")])
def test_with_every_image_pinned_the_files_name_only_digests(
    example: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / example
    root.mkdir()
    pins = "".join(f"    - {image}@{DIGEST}\n" for image in PUBLIC_IMAGES)
    text = (EXAMPLES / example / "lockgate.yaml").read_text()
    (root / "lockgate.yaml").write_text(text + f"ci:\n  images:\n{pins}")
    assert main(["generate", "all", "--root", str(root), "--require-digests"]) == 0
    assert "warning:" not in capsys.readouterr().err
    for rendered in _rendered(example, "all", root):
        assert all(u.kind != "floating" for u in image_uses(rendered))
        for image in PUBLIC_IMAGES:
            assert rendered.text.count(image) == rendered.text.count(f"{image}@{DIGEST}")
    gitlab = (root / ".gitlab-ci.yml").read_text()
    assert all(f"{image}@{DIGEST}" in gitlab for image in PUBLIC_IMAGES)


def test_a_floating_image_in_a_job_added_by_hand_is_reported_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(EXAMPLES / "minimal" / "lockgate.yaml", root / "lockgate.yaml")
    assert main(["generate", "gitlab", "--root", str(root)]) == 0
    path = root / ".gitlab-ci.yml"
    path.write_text(path.read_text() + "lint:\n  image: node:20-bookworm\n  script: [npm test]\n")
    capsys.readouterr()
    assert main(["generate", "gitlab", "--root", str(root), "--update", "--check"]) == 0
    err = capsys.readouterr().err
    line = path.read_text().splitlines().index("  image: node:20-bookworm") + 1
    assert (
        f"warning: .gitlab-ci.yml:{line}: image node:20-bookworm is named by a floating tag" in err
    )
    assert "write it as node:20-bookworm@sha256:<digest> where the file names it" in err


@pytest.mark.parametrize("path", sorted(SHIPPED))
def test_the_shipped_templates_take_the_public_images_as_inputs_or_variables(path: str) -> None:
    text = (REPO / path).read_text()
    uses = image_uses(Rendered(path, text, "yaml"))
    floating = {u.ref for u in uses if u.kind == "floating"}
    # the include file names the floating defaults (a project variable overrides the builder);
    # the component names them only as input defaults, which a generated include overrides
    assert floating <= set(PUBLIC_IMAGES)
    if path.startswith("templates/"):  # the CI/CD component
        assert "$[[ inputs.dind-image ]]" in {u.ref for u in uses}
        assert "$[[ inputs.builder-image ]]" in {u.ref for u in uses}


def test_a_pipeline_including_the_component_hands_it_the_pinned_images(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    pins = "".join(f"    - {image}@{DIGEST}\n" for image in PUBLIC_IMAGES)
    text = (EXAMPLES / "minimal" / "lockgate.yaml").read_text()
    (root / "lockgate.yaml").write_text(text + f"ci:\n  images:\n{pins}")
    ref = "gitlab.example.com/ml/lockgate/lockgate@0.1.0"
    (rendered,) = render_files(provider="gitlab", spec=None, root=root, component=ref)
    inputs = load(rendered.text)["include"][0]["inputs"]
    assert inputs["builder-image"] == f"python:3.11-slim-bookworm@{DIGEST}"
    assert inputs["dind-image"] == f"docker:27-dind@{DIGEST}"
    assert [u.kind for u in image_uses(rendered) if u.ref in inputs.values()] == ["pinned"] * 2


@pytest.mark.parametrize(
    ("base", "argv", "warned"),
    [
        ("python:3.11-slim-bookworm", [], True),
        (f"python:3.11-slim-bookworm@{DIGEST}", [], False),
        ("lockgate/debian:bookworm", [], False),  # bootstrapped in the job, never pulled
        ("python:3.11-slim-bookworm", ["--no-image"], False),  # no image job pulls it
    ],
)
def test_a_public_base_the_image_job_pulls_by_tag_is_reported(
    base: str, argv: list[str], warned: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    spec = (
        "version: 1\nname: demo\nimage: {base: 'BASE'}\nstages:\n"
        "  train: {run: [python3, train.py], image: {base: 'BASE'}}\n"
    )
    (root / "lockgate.yaml").write_text(spec.replace("BASE", base))
    code = main(["generate", "github", "--root", str(root), "--require-digests", *argv])
    err = capsys.readouterr().err
    assert code == (1 if warned else 0), err
    for field in ("image.base", "stages.train.image.base"):
        line = (
            f"warning: lockgate.yaml: {field} {base} is a floating tag that the CI image job "
            f"pulls; pin it: write it as {base}@sha256:<digest>"
        )
        assert (line in err.splitlines()) == warned, err
