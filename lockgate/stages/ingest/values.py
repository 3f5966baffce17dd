"""Watermark values as JSON, tagged by type (``{"date": "2024-05-01"}``), so that what the
journal and the manifest record reads back as the same value of the same type."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from lockgate.errors import LockgateError


class WatermarkTypeError(LockgateError):
    """A watermark column of a type whose values cannot be recorded."""


def encode_value(value: Any) -> Any:
    """A watermark value as JSON, tagged so it reads back as the same type."""
    if isinstance(value, dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"time": value.isoformat()}
    if isinstance(value, dt.timedelta):
        return {"interval": [value.days, value.seconds, value.microseconds]}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": bytes(value).hex()}
    if value is None or isinstance(value, str | int | float):
        return value
    raise WatermarkTypeError(
        f"a watermark value of type {type(value).__name__} ({value!r}) cannot be recorded; "
        "use a column of a type that grows, such as a number, a timestamp, a date or text"
    )


def decode_value(raw: Any) -> Any:
    if isinstance(raw, dict) and len(raw) == 1:
        ((kind, text),) = raw.items()
        if kind == "datetime":
            return dt.datetime.fromisoformat(text)
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "time":
            return dt.time.fromisoformat(text)
        if kind == "interval":
            return dt.timedelta(days=text[0], seconds=text[1], microseconds=text[2])
        if kind == "decimal":
            return decimal.Decimal(text)
        if kind == "uuid":
            return uuid.UUID(text)
        if kind == "bytes":
            return bytes.fromhex(text)
    return raw
