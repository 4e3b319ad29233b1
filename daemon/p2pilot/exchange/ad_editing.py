"""Bybit's ad rules checked before the call, so a refusal reads as a sentence, not a code.

Used by ``p2pilot ads ...`` and the ``reprice`` action. The exchange checks
again; these checks only turn its known refusals into messages that say what
to change: payment-method ids must be yours (and not Balance), the price must sit
inside the band when the exchange tells us the band, min must not exceed max.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal

from p2pilot.exchange.errors import Rejected
from p2pilot.exchange.requests import AdParams
from p2pilot.records import Ad, PaymentTerm

BALANCE_PAYMENT_TYPE = 377  # Bybit's internal "Balance": accepted on orders, never on ads
PRICE_OUT_OF_BAND = 912120022
PAYMENT_METHOD_ERROR = 912300013
AD_EDIT_LIMIT = 912120050
_BAND = re.compile(r"lower than ([0-9.]+) or higher than ([0-9.]+)")


class AdCheckError(ValueError):
    """The ad would be refused; the message says why and what to do."""


def check_payment_ids(ids: tuple[str, ...], ours: list[PaymentTerm]) -> None:
    usable = {t.id: t for t in ours if t.payment_type != BALANCE_PAYMENT_TYPE}
    unknown = [i for i in ids if i not in usable]
    if unknown:
        listed = ", ".join(f"{t.id} ({t.name})" for t in usable.values()) or "none"
        raise AdCheckError(
            f"payment method id {', '.join(unknown)} is not one of yours (an ad takes the id"
            f" of your own payment method, not a type id); yours: {listed}"
        )


def check_price(price: Decimal, band: tuple[Decimal, Decimal] | None, currency: str) -> None:
    if price <= 0:
        raise AdCheckError(f"price must be above 0, got {price}")
    if band is not None and not band[0] <= price <= band[1]:
        raise AdCheckError(
            f"price {price} {currency} is outside the band the exchange allows now:"
            f" {band[0]:.2f} to {band[1]:.2f} {currency}"
        )


def edited(
    ad: Ad,
    *,
    price: Decimal | None = None,
    quantity: Decimal | None = None,
    min_amount: Decimal | None = None,
    max_amount: Decimal | None = None,
    remark: str | None = None,
    payment_ids: tuple[str, ...] | None = None,
) -> AdParams:
    """The ad's current parameters with the given ones changed, checked."""
    current = AdParams.from_ad(ad)
    try:
        params = dataclasses.replace(
            current,
            price=current.price if price is None else price,
            quantity=current.quantity if quantity is None else quantity,
            min_amount=current.min_amount if min_amount is None else min_amount,
            max_amount=current.max_amount if max_amount is None else max_amount,
            remark=current.remark if remark is None else remark,
            payment_ids=current.payment_ids if payment_ids is None else payment_ids,
        )
    except ValueError as exc:
        raise AdCheckError(str(exc)) from None
    check_price(params.price, ad.price_band, ad.currency)
    return params


def explain(exc: Rejected) -> str:
    """A sentence for the ad refusals Bybit is known to give."""
    if exc.code == PRICE_OUT_OF_BAND:
        found = _BAND.search(str(exc))
        if found:
            return f"price outside the allowed band {found[1]} to {found[2]} ({exc})"
        return f"price outside the allowed band ({exc})"
    if exc.code == PAYMENT_METHOD_ERROR:
        return f"a payment method id is not yours or not usable on ads ({exc})"
    if exc.code == AD_EDIT_LIMIT:
        return f"too many edits of this ad: Bybit allows 10 per 5 minutes ({exc})"
    return str(exc)
