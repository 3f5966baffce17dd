"""Every relative link in README.md and docs/ leads somewhere: the file exists and, with a
``#fragment``, the page has that heading (as GitHub names a heading's anchor) or an explicit
``<a id>``. Links inside code blocks are not links; web addresses are not checked here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_LINK = re.compile(r"(?<!!)\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^\s*(```|~~~).*?^\s*\1", re.S | re.M)
_HEADING = re.compile(r"#{1,6}\s+(.*?)\s*#*\s*$")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives ``text``'s headings: lower case, punctuation other than ``-``
    and ``_`` dropped, spaces as hyphens, a repeated heading suffixed ``-1``, ``-2``; plus
    explicit ``<a id="...">`` and ``<a name="...">``."""
    found: set[str] = set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    seen: dict[str, int] = {}
    for line in _FENCE.sub("", text).splitlines():
        heading = _HEADING.match(line)
        if heading is None:
            continue
        slug = re.sub(r"<[^>]+>", "", heading.group(1).strip().lower())
        slug = re.sub(r"[^\w\- ]", "", slug).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    problems = []
    for target in _LINK.findall(_FENCE.sub("", page.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: and the like
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text()):
            problems.append(f"{target}: {dest.name} has no heading with that anchor")
    return problems


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_somewhere(page: Path) -> None:
    assert broken_links(page) == []


def test_a_missing_file_or_heading_is_reported(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other page\n\n## Set-up: `lockgate init`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Title\n\n"
        "[ok](other.md#set-up-lockgate-init) [ok](#title-1) [ok](https://example.com/x)\n"
        "[gone](missing.md) [wrong](other.md#setup) [here](#nowhere)\n"
        "```\n[in a code block](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#setup: other.md has no heading with that anchor",
        "#nowhere: page.md has no heading with that anchor",
    ]
