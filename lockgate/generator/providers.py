"""The CI providers lockgate generates for: one module each, the same shape, listed here.

A provider module has ``DEFAULT_OUT``, ``FORMAT`` (``yaml`` or ``groovy``) and
``render(ci, out, **options) -> tuple[Rendered, ...]`` (the CI file first, setup scripts after).
"""

from __future__ import annotations

from types import ModuleType

from lockgate.generator import github, gitlab, jenkins

PROVIDERS: dict[str, ModuleType] = {
    "github": github,
    "gitlab": gitlab,
    "jenkins": jenkins,
}
