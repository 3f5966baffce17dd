from __future__ import annotations

import pytest
from generator_examples import PLANNED_BUILTINS


@pytest.fixture(autouse=True)
def planned_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    from lockgate.stages import BUILTIN_STAGES

    for name, target in PLANNED_BUILTINS.items():
        if name not in BUILTIN_STAGES:
            monkeypatch.setitem(BUILTIN_STAGES, name, target)
