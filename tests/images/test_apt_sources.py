"""Mirror detection on real apt sources files, in both formats apt reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.errors import LockgateError
from lockgate.images.apt_sources import find_debian_mirror, main, read_apt_sources

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian/
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""

ONE_LINE = """\
# the archive
deb [arch=amd64 signed-by=/usr/share/keyrings/d.gpg] http://one.example/debian bookworm main contrib
deb-src http://one.example/debian bookworm main
deb http://one.example/debian-security bookworm-security main  # security
"""


def _apt_etc(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_deb822_sources_file_gives_the_bookworm_mirror(tmp_path: Path) -> None:
    apt_etc = _apt_etc(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert find_debian_mirror("bookworm", apt_etc) == "http://mirror.example/debian"


def test_one_line_sources_list_gives_the_bookworm_mirror(tmp_path: Path) -> None:
    apt_etc = _apt_etc(tmp_path, {"sources.list": ONE_LINE})
    assert find_debian_mirror("bookworm", apt_etc) == "http://one.example/debian"


def test_one_line_entries_keep_suite_and_components_and_skip_deb_src(tmp_path: Path) -> None:
    apt_etc = _apt_etc(tmp_path, {"sources.list.d/extra.list": ONE_LINE})
    found = [(s.uri, s.suite, s.components) for s in read_apt_sources(apt_etc)]
    assert found == [
        ("http://one.example/debian", "bookworm", ("main", "contrib")),
        ("http://one.example/debian-security", "bookworm-security", ("main",)),
    ]


def test_a_suite_without_its_own_entry_uses_the_full_debian_archive(tmp_path: Path) -> None:
    apt_etc = _apt_etc(tmp_path, {"sources.list.d/debian.sources": DEB822})
    assert find_debian_mirror("trixie", apt_etc) == "http://mirror.example/debian"


def test_disabled_stanzas_and_other_file_names_are_ignored(tmp_path: Path) -> None:
    disabled = DEB822.replace("Types: deb\n# http", "Types: deb\nEnabled: no\n# http", 1)
    apt_etc = _apt_etc(
        tmp_path,
        {
            "sources.list.d/debian.sources": disabled,
            "sources.list.d/old.sources.disabled": DEB822.replace("mirror", "old"),
            "sources.list.d/z.list": "deb http://late.example/debian bookworm main\n",
        },
    )
    assert find_debian_mirror("bookworm", apt_etc) == "http://late.example/debian"


def test_no_debian_entry_is_an_error_that_names_the_flag(tmp_path: Path) -> None:
    apt_etc = _apt_etc(
        tmp_path,
        {
            "sources.list.d/node.sources": "Types: deb\nURIs: https://n.example/node\n"
            "Suites: nodistro\nComponents: main\n"
        },
    )
    with pytest.raises(LockgateError, match=r"no Debian mirror for suite 'bookworm'.*--mirror"):
        find_debian_mirror("bookworm", apt_etc)


def test_command_prints_the_mirror(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    apt_etc = _apt_etc(tmp_path, {"sources.list": ONE_LINE})
    assert main(["--apt-etc", str(apt_etc)]) == 0
    assert capsys.readouterr().out == "http://one.example/debian\n"
