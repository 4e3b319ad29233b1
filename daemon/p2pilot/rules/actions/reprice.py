"""Reprice an ad from a ``rate.changed`` event: where the price should go, and whether to call.

Pure decisions; the executor reads the ad, spends the stored edit budget and
calls the exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from p2pilot.exchange.records import Ad
from p2pilot.rules.model import RepriceAction

# Bybit refuses the 11th edit of an ad within 5 minutes (912120050); stay inside it.
EDIT_BUDGET = 10
EDIT_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class RepricePlan:
    """The decision: ``price`` to set, or ``skip`` with the reason."""

    price: Decimal | None
    base: Decimal | None
    skip: str | None = None


def plan_reprice(action: RepriceAction, payload: dict[str, Any], ad: Ad) -> RepricePlan:
    """Target price for the ad: market price + step, clamped, at the ad's precision."""
    if (payload.get("token"), payload.get("currency")) != (ad.token, ad.currency):
        return RepricePlan(
            None,
            None,
            f"the rate is for {payload.get('token')}/{payload.get('currency')},"
            f" ad {ad.id} trades {ad.token}/{ad.currency}",
        )
    try:
        base = Decimal(str(payload[action.to]))
    except (KeyError, InvalidOperation, TypeError):
        return RepricePlan(None, None, f"the event carries no {action.to} price")
    exponent = ad.price.as_tuple().exponent
    quantum = Decimal(1).scaleb(exponent if isinstance(exponent, int) else -2)
    target = (base + action.step).quantize(quantum, rounding=ROUND_HALF_UP)
    target = min(max(target, action.floor), action.ceiling)
    if target == ad.price:
        return RepricePlan(None, base, f"price already {ad.price}")
    return RepricePlan(target, base)
