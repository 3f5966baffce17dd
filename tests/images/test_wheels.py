"""The host-side wheel cache both runner-image builders use, driven through real pip (offline:
a wheel built from a local project, and a download pip must refuse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from lockgate.images.wheels import cached_wheels, pinned_requirements


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tiny-model"\nversion = "1.0"\n'
        "[tool.setuptools]\npy-modules = []\n"
    )
    return root


def test_a_set_is_fetched_once_and_then_reused(tmp_path: Path) -> None:
    project = _project(tmp_path / "tiny")
    calls: list[Path] = []

    def steps(dest: Path) -> list[list[str]]:
        calls.append(dest)
        return [["-q", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), str(project)]]

    cache = tmp_path / "cache"
    first = cached_wheels(cache, "k1", steps)
    assert first == cache / "k1"
    assert [p.name for p in first.glob("*.whl")] == ["tiny_model-1.0-py3-none-any.whl"]
    assert cached_wheels(cache, "k1", steps) == first
    assert len(calls) == 1
    assert [p.name for p in cache.iterdir()] == ["k1"]  # no temporary folder left behind


def test_a_failed_fetch_says_why_and_leaves_nothing_to_trust(tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def steps(dest: Path) -> list[list[str]]:
        return [["download", "--no-index", "-d", str(dest), "no-such-package-for-lockgate"]]

    with pytest.raises(LockgateError) as err:
        cached_wheels(cache, "k2", steps)
    assert str(err.value).startswith("runner image: pip could not fetch the wheels: ")
    assert "no-such-package-for-lockgate" in str(err.value)
    assert list(cache.iterdir()) == []


def test_the_fetched_set_is_pinned_the_same_whatever_asked_for_it(tmp_path: Path) -> None:
    """Two requirement files resolving to the same wheels get the same pins, so their runner
    images share the install layer; a file pip cannot name leaves the requirements as written."""
    project = _project(tmp_path / "tiny")

    def steps(dest: Path) -> list[list[str]]:
        return [["-q", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), str(project)]]

    first = cached_wheels(tmp_path / "cache", "asked-one-way", steps)
    second = cached_wheels(tmp_path / "cache", "asked-another-way", steps)
    (second / "Tiny_Model-1.0.tar.gz").write_bytes(b"")  # an sdist of the same version
    assert pinned_requirements(first) == ["tiny-model==1.0"]
    assert pinned_requirements(second) == ["tiny-model==1.0"]
    (second / "notes.txt").write_text("not a distribution")
    assert pinned_requirements(second) is None
    assert pinned_requirements(tmp_path / "tiny") is None  # pyproject.toml: not a distribution
