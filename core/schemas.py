"""Types shared by every module's API schemas."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import PlainSerializer


def iso(value: dt.datetime) -> str:
    """ISO 8601 with a numeric offset (``+00:00``), as docs/api.md promises."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.isoformat()


# An aware instant, serialised as ``2026-11-27T08:00:00+00:00``.
Instant = Annotated[dt.datetime, PlainSerializer(iso, return_type=str)]


def jsonable(obj: Any) -> Any:
    """Datetimes and dates to ISO strings, recursively (for dict-shaped responses)."""
    if isinstance(obj, dt.datetime):
        return iso(obj)
    if isinstance(obj, dt.date):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj
