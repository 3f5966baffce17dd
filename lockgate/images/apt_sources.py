"""Read the machine's apt sources to find the Debian mirror it already uses.

Both formats apt reads are understood: deb822 ``*.sources`` files (``Types:``, ``URIs:``,
``Suites:`` stanzas) and one-line ``sources.list`` / ``*.list`` entries
(``deb [opts] URI SUITE COMPONENT...``). Only the standard library is used, so the setup script can
call this before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lockgate.errors import LockgateError

APT_ETC = Path("/etc/apt")
_POCKETS = ("-security", "-updates", "-backports", "-proposed-updates")


@dataclass(frozen=True)
class AptSource:
    """One enabled ``deb`` entry: a mirror URI serving one suite."""

    uri: str
    suite: str
    components: tuple[str, ...]
    origin: Path

    @property
    def is_pocket(self) -> bool:
        """True for -security/-updates/-backports suites, which are not full archives."""
        return self.suite.endswith(_POCKETS)


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    stanza: dict[str, str] = {}
    key = ""
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if stanza:
                yield stanza
            stanza, key = {}, ""
            continue
        if raw[0] in " \t" and key:
            stanza[key] += " " + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip().lower()
            stanza[key] = value.strip()
    if stanza:
        yield stanza


def parse_deb822(text: str, origin: Path) -> list[AptSource]:
    """The ``deb`` entries of a deb822 ``.sources`` file, skipping ``Enabled: no`` stanzas."""
    found: list[AptSource] = []
    for stanza in _deb822_stanzas(text):
        if "deb" not in stanza.get("types", "").split():
            continue
        if stanza.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(stanza.get("components", "").split())
        for uri in stanza.get("uris", "").split():
            found.extend(
                AptSource(uri.rstrip("/"), suite, components, origin)
                for suite in stanza.get("suites", "").split()
            )
    return found


def parse_one_line(text: str, origin: Path) -> list[AptSource]:
    """The ``deb`` entries of a one-line-style ``sources.list`` file."""
    found: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[len("deb ") :].strip()
        if rest.startswith("["):
            rest = rest.partition("]")[2].strip()
        fields = rest.split()
        if len(fields) >= 2:
            found.append(AptSource(fields[0].rstrip("/"), fields[1], tuple(fields[2:]), origin))
    return found


def read_apt_sources(apt_etc: Path = APT_ETC) -> list[AptSource]:
    """Every enabled ``deb`` entry under ``apt_etc``, in the order apt reads them."""
    found: list[AptSource] = []
    main_list = apt_etc / "sources.list"
    if main_list.is_file():
        found += parse_one_line(main_list.read_text(errors="replace"), main_list)
    parts = apt_etc / "sources.list.d"
    if parts.is_dir():
        for path in sorted(parts.iterdir()):
            if path.suffix == ".list":
                found += parse_one_line(path.read_text(errors="replace"), path)
            elif path.suffix == ".sources":
                found += parse_deb822(path.read_text(errors="replace"), path)
    return found


def find_debian_mirror(suite: str = "bookworm", apt_etc: Path = APT_ETC) -> str:
    """The mirror URI that serves ``suite``, else the one serving another full Debian suite.

    A machine on bookworm has no ``trixie`` entry, yet its bookworm mirror serves trixie too, so
    the fallback is any entry that is not a -security/-updates pocket and carries ``main``.
    """
    sources = [s for s in read_apt_sources(apt_etc) if not s.is_pocket]
    for source in sources:
        if source.suite == suite:
            return source.uri
    for source in sources:
        if "main" in source.components and source.uri.rstrip("/").endswith("/debian"):
            return source.uri
    raise LockgateError(
        f"no Debian mirror for suite '{suite}' in {apt_etc}/sources.list or "
        f"{apt_etc}/sources.list.d/: pass the mirror URI explicitly (--mirror URI)"
    )


def main(argv: list[str] | None = None) -> int:
    """Print the mirror URI for a suite (used by scripts/setup-test-env)."""
    parser = argparse.ArgumentParser(prog="python -m lockgate.images.apt_sources")
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--apt-etc", type=Path, default=APT_ETC)
    args = parser.parse_args(argv)
    try:
        print(find_debian_mirror(args.suite, args.apt_etc))
    except LockgateError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
