"""A file a renderer produced: where it goes and its exact text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Rendered:
    path: str  # relative to the repository root
    text: str
    format: Literal["yaml", "groovy", "script"]
