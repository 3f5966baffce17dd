"""Stage outputs made safe to show on a pull/merge request.

A stage's ``report.md`` and ``metrics.json`` come from the pull request's own code, and the
comment is posted with the project's token. So what a stage wrote may format its own section,
but not reach past it or past the thread: raw HTML other than ``<details>``/``<summary>``/``<br>``
is shown as text (no ``<img>`` beacons, no ``<!--`` hiding the sections after it), an
``@mention`` pings nobody, a line starting with ``/`` is no command (GitLab runs quick actions
such as ``/merge`` or ``/approve`` in a note the API creates, with the token's rights), an image
from another site becomes a link, and a code fence or ``<details>`` left open is closed at the
end of the section that opened it. Headings are kept below the report's own ``### stage`` ones,
so no stage can pass for another.
"""

from __future__ import annotations

import re

_ALLOWED_TAGS = ("details", "summary", "br")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(?:.+?)\1")
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)?([^<>]*)(>?)")
_HEADING = re.compile(r"^ {0,3}#{1,3}(?=[ \t]|$)")
_COMMAND = re.compile(r"^(\s*)/")  # a GitLab quick action (/merge, /approve), a chat-ops command
_MENTION = re.compile(r"(?<![\w`/@.+-])@(?=[A-Za-z0-9])")
_IMAGE = re.compile(r"!\[([^\]]*)\]\((https?://[^)\s]+)([^)]*)\)", re.IGNORECASE)
ZWSP = "\u200b"  # after an @, the name reads the same and notifies nobody


def markdown(text: str, trusted_url: str | None = None) -> str:
    """``text`` (a stage's Markdown) with HTML, mentions and foreign images defused and every
    code fence and ``<details>`` it opened closed again; ``trusted_url``'s images stay images."""
    out: list[str] = []
    fence: str | None = None
    open_details = 0
    for line in text.splitlines():
        if fence is not None:
            out.append(line)
            fence = None if _closes(line, fence) else fence
            continue
        found = _FENCE.match(line)
        if found:
            fence = found.group(1)
            out.append(line)
            continue
        safe, open_details = _line(line, open_details, trusted_url)
        out.append(safe)
    return "\n".join(out) + closers(fence, open_details)


def closers(fence: str | None, open_details: int) -> str:
    """What closes a fence and ``<details>`` blocks still open at the end of a section."""
    tail = f"\n{fence}" if fence else ""
    return tail + "\n\n</details>" * open_details


def balance(text: str) -> str:
    """``text`` (already defused, perhaps cut short) with what it left open closed again."""
    fence: str | None = None
    open_details = 0
    for line in text.splitlines():
        if fence is not None:
            fence = None if _closes(line, fence) else fence
        elif found := _FENCE.match(line):
            fence = found.group(1)
        else:
            prose = _CODE_SPAN.sub("", line)
            open_details += len(re.findall(r"<details\b", prose))
            open_details = max(open_details - len(re.findall(r"</details>", prose)), 0)
    return text + closers(fence, open_details)


def _closes(line: str, fence: str) -> bool:
    """Whether ``line`` closes the code block ``fence`` opened (same character, as long)."""
    found = _FENCE.match(line)
    run = found.group(1) if found else ""
    return run[:1] == fence[0] and len(run) >= len(fence) and not line.strip().strip(fence[0])


def inline(text: str) -> str:
    """One line of text for a heading or a table cell: no line breaks, no ``|`` that ends the
    cell, no HTML, no mentions."""
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return _mentions(_escape_tags(flat))


def _line(line: str, open_details: int, trusted_url: str | None) -> tuple[str, int]:
    line = _HEADING.sub("####", line)  # below the report's own "### stage" headings
    line = _COMMAND.sub(r"\1\\/", line)  # "\/" shows "/", and runs nothing
    pieces: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(line):
        text, open_details = _prose(line[last : span.start()], open_details, trusted_url)
        pieces += [text, span.group(0)]
        last = span.end()
    text, open_details = _prose(line[last:], open_details, trusted_url)
    pieces.append(text)
    return "".join(pieces), open_details


def _prose(text: str, open_details: int, trusted_url: str | None) -> tuple[str, int]:
    state = [open_details]

    def tag(match: re.Match[str]) -> str:
        closing, name = match.group(1), (match.group(2) or "").lower()
        if name in _ALLOWED_TAGS and match.group(4) and not _has_attribute_risk(match.group(3)):
            if name != "details":
                return match.group(0)
            if not closing:
                state[0] += 1
                return match.group(0)
            if state[0] > 0:
                state[0] -= 1
                return match.group(0)
        return "&lt;" + match.group(0)[1:]

    text = _TAG.sub(tag, text)
    text = _IMAGE.sub(lambda m: _image(m, trusted_url), text)
    return _mentions(text), state[0]


def _image(match: re.Match[str], trusted_url: str | None) -> str:
    alt, url = match.group(1), match.group(2)
    if trusted_url and url.startswith(trusted_url.rstrip("/") + "/"):
        return match.group(0)
    return f"[image: {alt or 'untitled'}]({url})"


def _has_attribute_risk(attributes: str) -> bool:
    """``<details open>`` is fine; anything with ``=`` (handlers, styles, URLs) is not."""
    return "=" in attributes or "<" in attributes


def _escape_tags(text: str) -> str:
    return _TAG.sub(lambda m: "&lt;" + m.group(0)[1:], text)


def _mentions(text: str) -> str:
    return _MENTION.sub("@" + ZWSP, text)
