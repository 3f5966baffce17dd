"""Links in a stage's ``report.md`` made to work where the report lands.

A PR/MR comment or a job summary has no folder of its own, so a relative link there points
nowhere. Each relative link becomes an absolute link under the artifact base URL when one is
known; without one, a training curve becomes a Mermaid chart (GitHub and GitLab draw it inline)
and any other relative link becomes the file's name in code, saying where to find it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_LINK = re.compile(r"(!?)\[([^\]]*)\]\((?![a-z][a-z0-9+.-]*:|/|#)([^)\s]+)\)", re.IGNORECASE)

Chart = Callable[[str], str | None]  # a relative image path -> Markdown to draw instead, or None


def rewrite_links(
    markdown: str, folder: str, artifact_url: str | None, chart: Chart | None = None
) -> str:
    """Every relative link in ``markdown`` made absolute or replaced; ``folder`` is where the
    stage's files lie under the run folder (``<stage>/out`` or ``<stage>``)."""
    stage = folder.split("/", 1)[0]

    def replace(match: re.Match[str]) -> str:
        bang, text, target = match.group(1), match.group(2), match.group(3)
        if artifact_url:
            return f"{bang}[{text}]({artifact_url.rstrip('/')}/{folder}/{target})"
        drawn = chart(target) if bang and chart else None
        if drawn is not None:
            return drawn
        label = text or target
        return f"{label} (`{target}` in the {stage} stage's outputs)"

    return _LINK.sub(replace, markdown)


def has_relative_links(markdown: str) -> bool:
    return _LINK.search(markdown) is not None
