"""Time as an argument: every clock-dependent check takes ``now`` (datetime, epoch seconds or None)."""

from __future__ import annotations

import time
from datetime import datetime, timezone


def epoch(now: datetime | float | int | None) -> float:
    """Epoch seconds for ``now``; None means the current time.  Naive datetimes are taken as UTC."""
    if now is None:
        return time.time()
    if isinstance(now, datetime):
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        return now.timestamp()
    if isinstance(now, (int, float)) and not isinstance(now, bool):
        return float(now)
    raise TypeError("now must be a datetime, epoch seconds or None")


def to_datetime(seconds: float | int) -> datetime:
    """An aware UTC datetime, clamped to what datetime can represent."""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return datetime.max.replace(tzinfo=timezone.utc) if seconds > 0 else datetime.min.replace(tzinfo=timezone.utc)
