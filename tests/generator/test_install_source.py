"""Where generated CI installs lockgate from: this version by default, a git commit, or a
directory of the checkout; anything else is refused before a file is written."""

from __future__ import annotations

import pytest
from generator_examples import EXAMPLES

import lockgate
from lockgate.errors import LockgateError
from lockgate.generator.install import requirement
from lockgate.generator.render import render_files
from lockgate.generator.yamltext import load

SHA = "0123456789abcdef0123456789abcdef01234567"


def _files(provider: str, install: str | None) -> dict:
    root = EXAMPLES / "quickstart"
    files = render_files(provider=provider, spec=root / "lockgate.yaml", root=root, install=install)
    return load(files[0].text)


def _github_install_step(install: str | None) -> str:
    steps = _files("github", install)["jobs"]["lockgate--image"]["steps"]
    return next(s["run"] for s in steps if s.get("name") == "Install lockgate")


def test_default_is_the_version_that_generated_the_files() -> None:
    assert requirement(None) == f"lockgate[docker]=={lockgate.__version__}"
    assert _github_install_step(None) == (
        f"python -m pip install 'lockgate[docker]=={lockgate.__version__}'"
    )


def test_a_git_commit_and_a_checkout_directory() -> None:
    git = f"git+https://git.example/team/lockgate@{SHA}"
    assert _github_install_step(git) == f"python -m pip install 'lockgate[docker] @ {git}'"
    gitlab = _files("gitlab", "./tools/lockgate/")
    assert list(gitlab[".lockgate-image"]["before_script"]) == [
        'python -m pip install "./tools/lockgate[docker]"'
    ]
    assert requirement("lockgate==0.2.0") == "lockgate[docker]==0.2.0"


@pytest.mark.parametrize(
    "source",
    [
        "git+https://git.example/team/lockgate@main",  # a branch moves; a commit does not
        "lockgate>=0.1",
        "/abs/path",
        "./dir with space",
        "./x'; rm -rf /",
    ],
)
def test_other_sources_are_refused_with_the_forms_accepted(source: str) -> None:
    with pytest.raises(LockgateError, match=r"--install .*give lockgate==VERSION, git\+https"):
        _files("github", source)
