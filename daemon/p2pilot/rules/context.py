"""What a rule sees of an event: the stored order, the counterparty, the evidence.

Built once per event and shared by every rule that listens to it. The
counterparty profile costs an API call, so it is fetched only when a rule that
matched so far needs it, and then cached for the event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from decimal import Decimal
from functools import partial
from typing import Any

from p2pilot.chat.channel import ChatTarget
from p2pilot.exchange.errors import ExchangeError, MalformedResponse
from p2pilot.exchange.parse import stored_payment
from p2pilot.exchange.port import Exchange
from p2pilot.logging import get_logger
from p2pilot.records import OrderStatus, Side, UserProfile
from p2pilot.rules.model import Conditions
from p2pilot.store.events import EventRecord
from p2pilot.store.models import OrderRow
from p2pilot.store.payments import PaymentRecord
from p2pilot.store.types import decimal_text

log = get_logger(__name__)
STATUS_CODES = frozenset(int(s) for s in OrderStatus)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """The stored order an event is about, detached from the session."""

    pk: int
    id: str
    side: Side
    status: int
    token: str
    currency: str
    amount: Decimal
    price: Decimal
    quantity: Decimal | None
    counterparty_nickname: str
    counterparty_user_id: str
    counterparty_mask_id: str
    counterparty_real_name: str
    payment_type: int | None
    payment_names: frozenset[str]
    created_at: datetime

    @classmethod
    def from_row(cls, row: OrderRow) -> OrderFacts:
        return cls(
            pk=row.id,
            id=row.exchange_id,
            side=Side(row.side),
            status=row.status,
            token=row.token,
            currency=row.currency,
            amount=row.amount,
            price=row.price,
            quantity=row.quantity,
            counterparty_nickname=row.counterparty_nickname or "",
            counterparty_user_id=row.counterparty_user_id or "",
            counterparty_mask_id=row.counterparty_mask_id or "",
            counterparty_real_name=row.counterparty_real_name or "",
            payment_type=row.payment_type,
            payment_names=_payment_names(row.raw),
            created_at=row.created_at,
        )

    @property
    def chat_target(self) -> ChatTarget:
        return ChatTarget(self.id, self.counterparty_mask_id, self.counterparty_nickname)

    def template_values(self) -> dict[str, str]:
        status = OrderStatus(self.status) if self.status in STATUS_CODES else None
        return {
            "order.id": self.id,
            "order.amount": decimal_text(self.amount),
            "order.currency": self.currency,
            "order.token": self.token,
            "order.price": decimal_text(self.price),
            "order.quantity": decimal_text(self.quantity) if self.quantity is not None else "",
            "order.side": self.side.label,
            "order.status": str(self.status),
            "order.status_name": status.label if status else str(self.status),
            "order.counterparty": self.counterparty_nickname,
            "order.created_at": self.created_at.isoformat(),
        }


def _payment_names(raw: dict[str, Any]) -> frozenset[str]:
    """The name of the payment method the buyer chose, as the exchange adapter reads it."""
    try:
        chosen = stored_payment(raw)
    except MalformedResponse:
        return frozenset()  # a garbled stored order names no method; the type id still may
    return (
        frozenset({chosen.name.casefold()}) if chosen is not None and chosen.name else frozenset()
    )


@dataclass
class EventContext:
    """One event with everything rules may look at."""

    event: EventRecord
    account: str
    account_nickname: str
    order: OrderFacts | None
    evidence: PaymentRecord | None
    client: Exchange
    now: datetime
    local_tz: tzinfo | None
    _counterparty: UserProfile | None = field(default=None, repr=False)
    _counterparty_loaded: bool = field(default=False, repr=False)

    @property
    def text(self) -> str | None:
        value = self.event.payload.get("text")
        return str(value) if value is not None else None

    def counterparty(self) -> UserProfile | None:
        """The counterparty's profile from the exchange, fetched at most once per event."""
        if not self._counterparty_loaded and self.order is not None:
            self._counterparty_loaded = True
            try:
                self._counterparty = self.client.counterparty_info(
                    user_id=self.order.counterparty_user_id, order_id=self.order.id
                )
            except ExchangeError as exc:
                log.warning(
                    "rules.counterparty_unavailable",
                    account=self.account,
                    order_id=self.order.id,
                    error=str(exc),
                )
        return self._counterparty

    def template_values(self) -> dict[str, str]:
        values = {"account.name": self.account, "account.nickname": self.account_nickname}
        if self.order is not None:
            values |= self.order.template_values()
        if self.text is not None:
            values["message.text"] = self.text
        profile = self._counterparty
        if profile is not None:
            values |= {
                "counterparty.nickname": profile.nickname,
                "counterparty.user_id": profile.user_id,
                "counterparty.total_orders": str(profile.total_finish_count),
                "counterparty.completion_rate": str(profile.recent_rate or ""),
                "counterparty.account_days": str(profile.account_create_days),
            }
        elif self.order is not None:
            values["counterparty.nickname"] = self.order.counterparty_nickname
            values["counterparty.user_id"] = self.order.counterparty_user_id
        for key in ("token", "currency", "side", "best", "reference", "previous"):
            if key in self.event.payload and self.event.type.startswith("rate."):
                values[f"rate.{key}"] = str(self.event.payload[key])
        if self.event.type == "daemon.alert":
            for key in ("reason", "message"):
                values[f"alert.{key}"] = str(self.event.payload.get(key, ""))
        return values


def unmet_condition(conditions: Conditions, ctx: EventContext) -> str | None:
    """The first condition that does not hold, or None when the rule matches."""
    order = ctx.order
    checks: list[tuple[str, Callable[[], bool]]] = []
    if conditions.account is not None:
        checks.append(("account", lambda: ctx.account == conditions.account))
    if conditions.hours is not None:
        hours = conditions.hours
        checks.append(("hours", lambda: hours.contains(ctx.now.astimezone(ctx.local_tz).time())))
    if conditions.text_matches is not None:
        pattern = conditions.text_matches
        checks.append(
            ("text_matches", lambda: ctx.text is not None and bool(pattern.search(ctx.text)))
        )
    order_checks = _order_checks(conditions, ctx)
    if order_checks and order is None:
        return "no order for this event"
    checks += order_checks
    for name, check in checks:
        if not check():
            return name
    return None


def _order_checks(
    conditions: Conditions, ctx: EventContext
) -> list[tuple[str, Callable[[], bool]]]:
    c = conditions
    checks: list[tuple[str, Callable[[], bool]]] = []

    def order() -> OrderFacts:
        assert ctx.order is not None
        return ctx.order

    if c.side is not None:
        checks.append(("side", lambda: order().side == c.side))
    if c.token is not None:
        checks.append(("token", lambda: order().token.upper() == str(c.token).upper()))
    if c.currency is not None:
        checks.append(("currency", lambda: order().currency.upper() == str(c.currency).upper()))
    if c.amount_min is not None:
        checks.append(("amount_min", lambda: order().amount >= c.amount_min))  # type: ignore[operator]
    if c.amount_max is not None:
        checks.append(("amount_max", lambda: order().amount <= c.amount_max))  # type: ignore[operator]
    if c.status is not None:
        checks.append(("status", lambda: order().status in c.status))  # type: ignore[operator]
    if c.payment_method is not None:
        wanted = c.payment_method.casefold()
        checks.append(
            (
                "payment_method",
                lambda: str(order().payment_type) == wanted or wanted in order().payment_names,
            )
        )
    if c.payment_confirmed is not None:
        checks.append(
            ("payment_confirmed", lambda: (ctx.evidence is not None) == c.payment_confirmed)
        )
    for name, attribute in _PROFILE_MINIMUMS:
        minimum = getattr(c, name)
        if minimum is not None:
            checks.append((name, partial(_profile_at_least, ctx, attribute, minimum)))
    return checks


# A rule's counterparty minimums, each with the profile field it bounds.
_PROFILE_MINIMUMS = (
    ("counterparty_min_orders", "total_finish_count"),
    ("counterparty_min_completion_rate", "recent_rate"),
    ("counterparty_min_account_days", "account_create_days"),
)


def _profile_at_least(ctx: EventContext, attribute: str, minimum: Decimal | int | None) -> bool:
    profile = ctx.counterparty()
    if profile is None or minimum is None:
        return False  # unknown counterparty: do nothing rather than guess
    value = getattr(profile, attribute)
    return value is not None and value >= minimum
