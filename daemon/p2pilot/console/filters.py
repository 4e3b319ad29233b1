"""Template filters: ages, times and money the way the command line shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

from p2pilot.render import times


def age(seconds: Any) -> str:
    """``42s``, ``3m 12s``, ``2h 05m``, ``3d 4h``: how long something has waited."""
    if seconds is None:
        return ""
    total = max(0, int(float(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def when(value: Any) -> str:
    """An ISO time as ``2026-11-30 16:09:26 UTC``."""
    moment = times.parse(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        return ""
    return times.absolute(moment)


def money(amount: Any, currency: Any = "") -> str:
    """``8145.00 RUB``: the stored decimal text as it is, never through a float."""
    if amount is None:
        return ""
    return f"{amount} {currency or ''}".rstrip()


def install(environment: Environment) -> None:
    """Register the filters on ``environment``."""
    environment.filters["age"] = age
    environment.filters["when"] = when
    environment.filters["money"] = money
