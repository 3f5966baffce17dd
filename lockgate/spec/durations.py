"""The one duration grammar lockgate reads everywhere: spec timeouts and TTLs, data-check ages,
``approve --expires``, ``cache prune --older-than``.

A duration is a whole number of seconds, or units largest first: ``90s``, ``30m``, ``12h``,
``2d``, ``1w``, ``1h30m``. It must be positive.
"""

from __future__ import annotations

import re
from typing import Any

_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
# the same grammar for a JSON Schema (editors): a number of seconds, or units largest first, with
# the spaces around it that the parser strips
DURATION_PATTERN = r"^\s*(?=\d)(\d+|(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?)\s*$"
_UNIT_SECONDS = (604800, 86400, 3600, 60, 1)
EXAMPLES = "90s, 30m, 12h, 2d, 1w or 1h30m"


def parse_duration(value: Any) -> int:
    """Seconds for ``value``; ``ValueError`` naming the grammar when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like {EXAMPLES}")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("must be positive")
        return value
    if isinstance(value, str) and len(value) <= 32:
        text = value.strip()
        if text.isdigit() and int(text) > 0:
            return int(text)
        m = _DURATION.match(text)
        if m and any(m.groups()):
            total = sum(int(g or 0) * u for g, u in zip(m.groups(), _UNIT_SECONDS, strict=True))
            if total > 0:
                return total
    raise ValueError(f"expected a duration like {EXAMPLES}, got {value!r}"[:200])
