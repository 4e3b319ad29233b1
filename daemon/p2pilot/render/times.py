"""Times as an operator reads them: absolute in UTC, and how long ago."""

from __future__ import annotations

from datetime import UTC, datetime


def parse(value: str | None) -> datetime | None:
    """An ISO 8601 time from a JSON document (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def absolute(value: datetime) -> str:
    """``2026-11-30 09:40:12 UTC``: seconds, no microseconds, no offset arithmetic to do."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def relative(value: datetime, now: datetime) -> str:
    """``just now``, ``42 s ago``, ``3 min ago``, ``2 h 5 min ago``, ``4 days ago``, ``in 1 h``."""
    seconds = (now - value).total_seconds()
    future = seconds < 0
    span = _span(abs(seconds))
    if span == "just now":
        return span
    return f"in {span}" if future else f"{span} ago"


def _span(seconds: float) -> str:
    whole = int(seconds)
    if whole < 2:
        return "just now"
    if whole < 60:
        return f"{whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes and hours < 10 else f"{hours} h"
    days = hours // 24
    return "1 day" if days == 1 else f"{days} days"


def both(value: datetime | None, now: datetime) -> str:
    """``2026-11-30 09:40:12 UTC (3 min ago)``; ``never`` for no time."""
    if value is None:
        return "never"
    return f"{absolute(value)} ({relative(value, now)})"


def duration(seconds: float) -> str:
    """A length of time: ``42 s``, ``3 min``, ``2 h 5 min``."""
    span = _span(seconds)
    return "0 s" if span == "just now" else span
