"""The one base of every config model: frozen once validated, and strict about unknown keys, so a
typo in a spec or a ``with:`` block is an error that names the key instead of a silent no-op."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
