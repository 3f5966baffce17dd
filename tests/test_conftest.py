"""The skip-or-fail switch of tests/conftest.py, run through a real inner pytest session."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py").read_text()
NEEDS_ENGINE = """
import pytest

def test_wants_an_engine(docker_client):
    pass

@pytest.mark.docker
def test_marked(tmp_path):
    pass
"""
MARKERS = "[pytest]\nmarkers =\n    docker: needs a running Docker engine\n"


@pytest.fixture
def no_engine(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{pytester.path}/absent.sock")
    monkeypatch.delenv("LOCKGATE_REQUIRE_ENGINE", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makeini(MARKERS)
    pytester.makepyfile(test_engine=NEEDS_ENGINE)
    return pytester


def test_missing_engine_skips_with_its_reason(no_engine: pytest.Pytester) -> None:
    result = no_engine.runpytest("-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no container engine answers at unix://*absent.sock*"])


def test_require_engine_flag_turns_the_skips_into_failures(no_engine: pytest.Pytester) -> None:
    result = no_engine.runpytest("--require-engine")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*required by --require-engine*"])


def test_require_engine_environment_variable_does_the_same(
    no_engine: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_REQUIRE_ENGINE", "1")
    no_engine.runpytest().assert_outcomes(errors=2)


def test_missing_shared_fixtures_skip_with_their_path(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCKGATE_REQUIRE_ENGINE", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shared="def test_it(shared_fixtures):\n    pass\n")
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*shared fixtures not found at*"])


IMPORTS_AN_EXTRA = """
import pytest

absent = pytest.importorskip("lockgate_no_such_module", reason="pip install lockgate[absent]")

def test_uses_it():
    pass
"""


def test_importorskip_of_a_missing_extra_skips_or_fails(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCKGATE_REQUIRE_ENGINE", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_extra=IMPORTS_AN_EXTRA)
    pytester.runpytest("-rs").assert_outcomes(skipped=1)
    required = pytester.runpytest("--require-engine")
    required.assert_outcomes(errors=1)
    required.stdout.fnmatch_lines(
        ["*pip install lockgate?absent? (module 'lockgate_no_such_module' is required by*"]
    )
