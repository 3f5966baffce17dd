"""The skip-or-fail switch of tests/conftest.py, run through a real inner pytest session."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

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


@pytest.mark.docker
def test_images_the_session_made_for_nothing_go_with_it(
    docker_client: Any, base_image: str
) -> None:
    """What a run pushed to a test registry or built for a throwaway project is removed at the
    end; an image a later run reuses (tagged by content, or a runner build's install stage) and
    anything older than the session stay."""
    from lockgate.images.prune import STAGE_LABEL
    from tests.conftest import _image_ids, _remove_images_made_since

    def build(label: str, *more: str) -> Any:
        dockerfile = f"FROM {base_image}\nLABEL lockgate.test.cleanup={label} {' '.join(more)}\n"
        image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), rm=True)
        return image

    older = build(f"older-{uuid.uuid4().hex}")
    older.tag("lockgate-runner/older", "1")
    before = _image_ids(docker_client)
    pushed, runner, support, untagged = (build(f"{n}-{uuid.uuid4().hex}") for n in range(4))
    install = build(f"install-{uuid.uuid4().hex}", f'{STAGE_LABEL}="lockgate-runner/project"')
    pushed.tag("127.0.0.1:5999/models/x", "1")
    runner.tag("lockgate-runner/project", "abc")
    support.tag("lockgate-test/support", "abc")
    support.tag("127.0.0.1:5999/support", "abc")  # one reusable tag is enough to keep it
    try:
        _remove_images_made_since(docker_client, before)
        left = _image_ids(docker_client)
        assert older.id in left and support.id in left and install.id in left
        assert not {pushed.id, runner.id, untagged.id} & left
    finally:
        for image in (older, support, install):
            docker_client.images.remove(image.id, force=True)
