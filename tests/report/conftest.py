"""The recording GitHub/GitLab API server every posting test talks to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.report.fake_api import FakeApi, serve


@pytest.fixture
def api() -> Iterator[tuple[FakeApi, str]]:
    with serve() as served:
        yield served
