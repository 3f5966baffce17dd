"""The CI providers lockgate generates for: one module each, the same shape, listed here.

A provider module has ``DEFAULT_OUT``, ``FORMAT`` (``yaml`` or ``groovy``) and
``render(ci, out, **options) -> tuple[Rendered, ...]`` (the CI file first, setup scripts after)
and ``side_files(out)``: the paths of the files it writes beside ``out`` only when the spec asks
for them (a setup script), so that one the spec stopped asking for is found and removed.
"""

from __future__ import annotations

from types import ModuleType

from lockgate.generator import github, gitlab, jenkins

PROVIDERS: dict[str, ModuleType] = {
    "github": github,
    "gitlab": gitlab,
    "jenkins": jenkins,
}
