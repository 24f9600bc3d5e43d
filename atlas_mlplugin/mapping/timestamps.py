"""Atlas stores `date` attributes as epoch milliseconds (UTC)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any


def to_millis(value: datetime | None) -> int | None:
    """A naive datetime is taken as UTC, so a value means the same on every machine."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


def date_to_millis(value: date | None) -> int | None:
    return to_millis(datetime(value.year, value.month, value.day, tzinfo=timezone.utc)) if value else None


def from_millis(value: Any) -> datetime | None:
    """0 is read as unset: Atlas 2.1.0 stored unset dates as 0 before our typedefs gave them a default."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value == 0:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)
