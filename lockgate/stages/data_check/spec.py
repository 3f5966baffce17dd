"""The ``with:`` mapping of ``uses: lockgate/data-check``, as typed, frozen records.

The mapping is validated once, here; every other module reads these models. A bad mapping
becomes one :class:`DataCheckConfigError` whose message starts with the field path, e.g.
``with.columns.age.min: Input should be a valid number``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from lockgate.errors import LockgateError
from lockgate.spec.base import FrozenModel
from lockgate.spec.config_errors import describe_validation_error
from lockgate.spec.durations import parse_duration

ColumnType = Literal["int", "float", "number", "str", "bool", "date", "datetime", "category"]
PiiKind = Literal["email", "phone", "ssn", "iban"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
MIN_BUDGET = 8 * 2**20


class _WithModel(FrozenModel):
    """A ``with:`` record whose validator is built on first use: a stage parses only
    :class:`DataCheckSpec`, whose validator holds the nested records' own."""

    model_config = ConfigDict(defer_build=True)


class DataCheckConfigError(LockgateError):
    """The ``with:`` mapping of a data-check stage is invalid."""


def duration_seconds(text: str) -> float:
    """A duration in lockgate's one grammar (:mod:`lockgate.spec.durations`) as seconds."""
    return float(parse_duration(text))


def size_bytes(text: str | int) -> int:
    """``"512MiB"``, ``"2GiB"``, ``"300MB"`` or a number of bytes, as bytes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a size like 256MiB, 2GiB or 500MB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])


class ColumnSpec(_WithModel):
    """What one column must look like. Every key is optional."""

    type: ColumnType | None = None
    required: bool = True
    nullable: bool = True
    max_null_fraction: Fraction | None = None
    min: float | None = None
    max: float | None = None
    allowed: tuple[str | int | float | bool, ...] | None = None
    regex: str | None = None
    unique: bool = False
    pii: bool = False

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        return value

    @model_validator(mode="after")
    def _range_order(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class RowsSpec(_WithModel):
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None


class FreshnessSpec(_WithModel):
    column: str
    max_age: str

    @field_validator("max_age")
    @classmethod
    def _is_duration(cls, value: str) -> str:
        duration_seconds(value)
        return value

    @property
    def max_age_seconds(self) -> float:
        return duration_seconds(self.max_age)


class NumericDrift(_WithModel):
    """Thresholds for numeric columns; a column drifts when any metric exceeds its threshold."""

    psi: Annotated[float, Field(gt=0)] | None = 0.2
    wasserstein: Annotated[float, Field(gt=0)] | None = 0.1


class CategoricalDrift(_WithModel):
    js: Annotated[float, Field(gt=0, le=1)] | None = 0.1
    psi: Annotated[float, Field(gt=0)] | None = None


class ColumnDriftThresholds(_WithModel):
    """Per-column overrides; keys left out keep the numeric/categorical defaults."""

    psi: Annotated[float, Field(gt=0)] | None = None
    wasserstein: Annotated[float, Field(gt=0)] | None = None
    js: Annotated[float, Field(gt=0, le=1)] | None = None


class DriftSpec(_WithModel):
    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    bins: Annotated[int, Field(ge=2, le=100)] = 10
    numeric: NumericDrift = NumericDrift()
    categorical: CategoricalDrift = CategoricalDrift()
    per_column: dict[str, ColumnDriftThresholds] = Field(default_factory=dict)
    max_drifted_columns: Annotated[int, Field(ge=0)] | None = 0
    max_drifted_fraction: Fraction | None = None
    histograms: bool = True

    def thresholds(self, column: str, *, numeric: bool) -> dict[str, float]:
        """Metric name -> threshold for ``column``, defaults overridden by ``per_column``."""
        base = self.numeric if numeric else self.categorical
        merged = base.model_dump()
        if column in self.per_column:
            override = self.per_column[column].model_dump(exclude_none=True)
            merged.update({k: v for k, v in override.items() if k in merged})
        return {k: v for k, v in merged.items() if v is not None}


class PiiSpec(_WithModel):
    detectors: tuple[PiiKind, ...] = ("email", "phone", "ssn", "iban")
    min_fraction: Fraction = 0.0
    fail: bool = False


class IncrementalSpec(_WithModel):
    enabled: bool = True
    order_by: Literal["name", "mtime"] = "name"


class DataCheckSpec(_WithModel):
    data: str | tuple[str, ...]
    format: Literal["parquet", "csv", "jsonl"] | None = None
    reference: str | tuple[str, ...] | None = None
    columns: dict[str, ColumnSpec] = Field(default_factory=dict)
    extra_columns: Literal["allow", "fail"] = "allow"
    unique: tuple[tuple[str, ...], ...] = ()
    rows: RowsSpec | None = None
    freshness: FreshnessSpec | None = None
    drift: DriftSpec | None = None
    pii: PiiSpec = PiiSpec()
    incremental: IncrementalSpec | None = None
    streaming: bool = True
    memory_budget: str | int | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, raw: Any) -> Any:
        """``incremental: true`` and ``unique: [id, [a, b]]``."""
        if not isinstance(raw, Mapping):
            return raw
        out = dict(raw)
        if isinstance(out.get("incremental"), bool):
            out["incremental"] = {"enabled": out["incremental"]}
        if isinstance(out.get("unique"), list):
            out["unique"] = [[k] if isinstance(k, str) else k for k in out["unique"]]
        return out

    @field_validator("memory_budget")
    @classmethod
    def _is_size(cls, value: str | int | None) -> str | int | None:
        if value is not None and size_bytes(value) < MIN_BUDGET:
            raise ValueError(f"{value!r} is below the smallest budget, 8MiB")
        return value

    @property
    def memory_budget_bytes(self) -> int | None:
        return None if self.memory_budget is None else size_bytes(self.memory_budget)

    @field_validator("unique")
    @classmethod
    def _keys_not_empty(cls, keys: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
        for key in keys:
            if not key:
                raise ValueError("a unique key needs at least one column")
        return keys

    @model_validator(mode="after")
    def _drift_needs_reference(self) -> DataCheckSpec:
        if self.drift is not None and self.reference is None:
            raise ValueError("drift needs a reference dataset: add `reference:`")
        return self

    @property
    def unique_keys(self) -> tuple[tuple[str, ...], ...]:
        singles = tuple((name,) for name, col in self.columns.items() if col.unique)
        return tuple(dict.fromkeys(singles + self.unique))

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(name for name, col in self.columns.items() if col.pii)


def parse_spec(raw: Mapping[str, Any]) -> DataCheckSpec:
    """Validate ``ctx.with_``; raise :class:`DataCheckConfigError` with the field path."""
    if not isinstance(raw, Mapping):
        raise DataCheckConfigError("with: must be a mapping (data-check stage)")
    try:
        return DataCheckSpec.model_validate(dict(raw))
    except ValidationError as exc:
        hint = " — fix the data-check `with:` mapping"
        message = describe_validation_error(exc, root=("with",), hint=hint, model=DataCheckSpec)
        raise DataCheckConfigError(message) from None
