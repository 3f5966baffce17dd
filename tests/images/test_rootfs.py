"""The rootfs tarball: cache reuse, cleanup of build leftovers, and the errors a user can meet.

debootstrap runs for real (against an unreachable mirror, so it fails fast); the full ~40 s build
is exercised by scripts/setup-test-env and checked through the image in test_bootstrap.py.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from lockgate.images import rootfs as rootfs_module
from lockgate.images.rootfs import RootfsError, RootfsRecipe, rootfs_tarball

REPO_ROOT = Path(__file__).resolve().parents[2]
RECIPE = RootfsRecipe(suite="bookworm", mirror="http://127.0.0.1:9/debian", include=("python3",))


def test_recipe_key_changes_with_what_goes_into_the_rootfs() -> None:
    assert RECIPE.key == RootfsRecipe("bookworm", RECIPE.mirror, ("python3",)).key
    assert RECIPE.key != RootfsRecipe("trixie", RECIPE.mirror, ("python3",)).key
    assert RECIPE.key != RootfsRecipe("bookworm", RECIPE.mirror, ("python3", "git")).key
    assert RECIPE.key != RootfsRecipe("bookworm", "http://other/debian", ("python3",)).key


def test_a_cached_tarball_is_reused_without_running_debootstrap(tmp_path: Path) -> None:
    tarball = tmp_path / f"debian-bookworm-{RECIPE.key}.tar"
    tarball.write_bytes(b"cached")
    created = dt.datetime(2025, 5, 20, 12, 0, tzinfo=dt.UTC)
    tarball.with_suffix(".json").write_text(json.dumps({"created": created.isoformat()}))
    found = rootfs_tarball(RECIPE, tmp_path, debootstrap="no-such-debootstrap")
    assert (found.path, found.created, found.from_cache) == (tarball, created, True)


def test_missing_debootstrap_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(RootfsError, match=r"apt-get install debootstrap"):
        rootfs_tarball(RECIPE, tmp_path, debootstrap="no-such-debootstrap")


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another user needs root")
@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3 to run")
def test_not_root_is_refused_before_debootstrap_runs() -> None:
    """Runs the module as user nobody with the system python (the test's own may be unreadable)."""
    if not os.access(REPO_ROOT, os.R_OK | os.X_OK) or REPO_ROOT.stat().st_mode & 0o005 != 0o005:
        pytest.skip(reason=f"{REPO_ROOT} is not readable by other users")
    script = (
        "from pathlib import Path; from lockgate.images.rootfs import *; "
        "rootfs_tarball(RootfsRecipe('bookworm', 'http://127.0.0.1:9/debian', ()), "
        "Path('/nonexistent/cache'), debootstrap='sh')"
    )
    done = subprocess.run(
        ["/usr/bin/python3", "-c", script],
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
        cwd="/",
        user=65534,
        group=65534,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "RootfsError: debootstrap must run as root" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="debootstrap needs root")
def test_debootstrap_failure_names_the_mirror_and_leaves_nothing_behind(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from tests.conftest import unavailable

    try:
        rootfs_module._find_debootstrap("debootstrap")
    except RootfsError as error:
        unavailable(request.config, f"debootstrap is not installed: {error}")
    with pytest.raises(
        RootfsError,
        match=r"debootstrap bookworm from http://127\.0\.0\.1:9/debian "
        r"failed \(exit \d+\): .*check the mirror URI",
    ):
        rootfs_tarball(RECIPE, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_build_leftovers_are_removed_and_directories_kept(tmp_path: Path) -> None:
    files = {
        "var/lib/apt/lists/deb.example_debian_dists_bookworm_main_binary-amd64_Packages": "x",
        "var/lib/apt/lists/lock": "",
        "var/cache/apt/pkgcache.bin": "x",
        "var/cache/apt/archives/python3_3.11.deb": "x",
        "var/log/apt/history.log": "x",
        "var/log/dpkg.log": "x",
        "tmp/build": "x",
        "etc/hostname": "buildhost\n",
        "etc/resolv.conf": "nameserver 10.0.0.1\n",
        "usr/bin/python3": "kept",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "var/lib/apt/lists/partial").mkdir()

    rootfs_module._remove_build_leftovers(tmp_path)

    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["etc/hostname", "etc/resolv.conf", "usr/bin/python3"]
    assert (tmp_path / "etc/hostname").read_text() == ""
    assert (tmp_path / "etc/resolv.conf").read_text() == ""
    assert (tmp_path / "var/lib/apt/lists/partial").is_dir()
    assert (tmp_path / "var/cache/apt/archives").is_dir()
    assert (tmp_path / "var/log/apt").is_dir()
