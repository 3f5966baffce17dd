"""The CI files of a spec, rendered in memory: load the spec, build the provider-neutral model,
and let each provider render it. Nothing is written here (see :mod:`lockgate.generator.files`)."""

from __future__ import annotations

from pathlib import Path

from lockgate.errors import LockgateError
from lockgate.generator.rendered import Rendered


def render_files(
    *,
    provider: str,
    spec: Path | None,
    root: Path,
    out: str | None = None,
    build_image: bool = True,
    actions: str | None = None,
    component: str | None = None,
    install: str | None = None,
) -> list[Rendered]:
    from lockgate.generator.model import build_model
    from lockgate.generator.providers import PROVIDERS
    from lockgate.spec.loader import find_spec, load_spec

    if provider == "all" and out:
        raise LockgateError("--out names one file; use it with one provider, not `all`")
    if actions is not None:
        if provider not in ("github", "all"):
            raise LockgateError(f"--actions is for GitHub workflows; not with `{provider}`")
        _check_actions_ref(actions)
    if component is not None:
        if provider not in ("gitlab", "all"):
            raise LockgateError(f"--component is for GitLab pipelines; not with `{provider}`")
        _check_component_ref(component)
    spec_path = (spec or find_spec(root)).resolve()
    pipeline = load_spec(spec_path)
    try:
        rel_spec = spec_path.relative_to(root.resolve()).as_posix()
    except ValueError:
        raise LockgateError(f"--spec {spec_path} is outside the repository root {root}") from None
    if install is not None:
        from lockgate.generator.install import requirement

        requirement(install)  # a bad source is reported before anything is read or written
    ci = build_model(pipeline, spec_path=rel_spec, build_image=build_image, install=install)
    names = [p for p in PROVIDERS] if provider == "all" else [provider]
    files: list[Rendered] = []
    for name in names:
        module = PROVIDERS[name]
        options: dict[str, str | None] = {}
        if name == "github":
            options["actions"] = actions
        elif name == "gitlab":
            options["component"] = component
        files.extend(module.render(ci, out or module.DEFAULT_OUT, **options))
    return files


def _check_actions_ref(ref: str) -> None:
    import re

    if ref.startswith("./"):
        return
    if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref):
        raise LockgateError(
            f"--actions {ref!r}: give OWNER/REPO@<full 40-character commit SHA> or ./ "
            "(third-party actions are pinned by commit)"
        )


def _check_component_ref(ref: str) -> None:
    import re

    if not re.fullmatch(r"[\w.-]+(:[0-9]+)?(/[\w.-]+)+@[\w.~+-]+", ref):
        raise LockgateError(
            f"--component {ref!r}: give HOST/PATH/lockgate@VERSION, the component's path on "
            "your GitLab instance and a released version (a tag, or ~latest)"
        )
