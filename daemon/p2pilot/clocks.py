"""Time as the daemon reads it, and how far other machines' clocks may be from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

# How far the exchange's, a bank's or a phone's clock may be off ours: a message or
# a payment stamped up to this long before the moment it must follow still counts.
CLOCK_SKEW = timedelta(minutes=2)


def utc_now() -> datetime:
    """Now, in UTC: the clock every component gets unless a test gives it another."""
    return datetime.now(UTC)
