"""Rules as the engine runs them: typed, validated, compiled once from the config."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from decimal import Decimal
from pathlib import Path

from p2pilot.records import Side
from p2pilot.rules.templates import Template


@dataclass(frozen=True, slots=True)
class Hours:
    """A local time window; ``start > end`` wraps past midnight (22:00-06:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class Conditions:
    """The ``if`` table of a rule; every condition given must hold."""

    side: Side | None = None
    token: str | None = None
    currency: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    payment_method: str | None = None  # a payment type id or a method name
    counterparty_min_orders: int | None = None
    counterparty_min_completion_rate: Decimal | None = None
    counterparty_min_account_days: int | None = None
    text_matches: re.Pattern[str] | None = None
    status: frozenset[int] | None = None
    account: str | None = None
    payment_confirmed: bool | None = None
    hours: Hours | None = None


@dataclass(frozen=True, slots=True)
class ReplyAction:
    template: Template
    attachment: Path | None = None
    kind: str = "reply"


@dataclass(frozen=True, slots=True)
class ReleaseAction:
    kind: str = "release"


@dataclass(frozen=True, slots=True)
class MarkPaidAction:
    payment_method: str  # type id or name of the seller's method to declare
    kind: str = "mark_paid"


@dataclass(frozen=True, slots=True)
class RepriceAction:
    ad_id: str
    to: str  # "reference" or "best"
    step: Decimal
    floor: Decimal
    ceiling: Decimal
    kind: str = "reprice"


@dataclass(frozen=True, slots=True)
class WebhookAction:
    url: str
    secret: str | None = field(default=None, repr=False)
    timeout: float = 5.0
    max_attempts: int = 3
    kind: str = "webhook"


@dataclass(frozen=True, slots=True)
class NotifyAction:
    urls: tuple[str, ...] = field(repr=False)
    title: Template | None = None
    body: Template | None = None
    kind: str = "notify"


@dataclass(frozen=True, slots=True)
class CommandAction:
    argv: tuple[str, ...]
    timeout: float = 10.0
    kind: str = "command"


Action = (
    ReplyAction
    | ReleaseAction
    | MarkPaidAction
    | RepriceAction
    | WebhookAction
    | NotifyAction
    | CommandAction
)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    on: tuple[str, ...]
    conditions: Conditions
    actions: tuple[Action, ...]
