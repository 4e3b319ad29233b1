"""``[[rules]]`` as written in the config: event, conditions, actions, checked at load.

This is the validated shape of the TOML; the rule engine compiles it into its own
model (``p2pilot.rules.model``). Checks that need nothing but the config happen
here so a typo is a config error at startup, not a surprise at 3 a.m.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    model_validator,
)

from p2pilot.config.secrets import Secret
from p2pilot.config.values import (
    Code,
    DecimalValue,
    Duration,
    Money,
    Name,
    NonEmptyStr,
    Percent,
    PositiveMoney,
    at_least,
    echo,
    invalid,
    one_of,
    toml_type,
)
from p2pilot.records import OrderStatus
from p2pilot.rules.model import Hours
from p2pilot.rules.templates import TemplateError, compile_template

# The design's event list (contract). ``order.status_changed`` carries from/to.
EVENT_NAMES: tuple[str, ...] = (
    "order.created",
    "order.status_changed",
    "order.awaiting_payment",
    "order.paid",
    "order.appeal",
    "order.cancelled",
    "order.completed",
    "order.anomaly",
    "chat.message",
    "payment.received",
    "payment.unmatched",
    "order.paid_unconfirmed",
    "order.release_pending",
    "order.release_held",
    "rate.changed",
    "ad.changed",
    "daemon.alert",
)
ACTION_NAMES: tuple[str, ...] = (
    "reply",
    "release",
    "mark_paid",
    "reprice",
    "webhook",
    "notify",
    "command",
)

STRICT = ConfigDict(extra="forbid", strict=True, frozen=True)


def parse_event(value: object) -> str:
    if not isinstance(value, str):
        invalid(f"expected an event name, got {toml_type(value)}")
    if value not in EVENT_NAMES:
        invalid(f"unknown event {echo(value)}; events: {', '.join(EVENT_NAMES)}")
    return value


def parse_events(value: object) -> tuple[str, ...]:
    """One event name, or an array of them (a rule may listen to several)."""
    if isinstance(value, list):
        if not value:
            invalid("expected at least one event name")
        return tuple(dict.fromkeys(parse_event(item) for item in value))
    return (parse_event(value),)


def parse_regex(value: object) -> re.Pattern[str]:
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        invalid(f"expected a regular expression string, got {toml_type(value)}")
    try:
        return re.compile(value)
    except re.error as exc:
        invalid(f"invalid regular expression: {exc}")
    except (RecursionError, OverflowError, MemoryError, ValueError):
        invalid("invalid regular expression: too complex")


def parse_statuses(value: object) -> frozenset[int]:
    """One status or an array of them: exchange codes (20) or names ("paid")."""
    items = value if isinstance(value, list) else [value]
    if not items:
        invalid("expected at least one status")
    codes: set[int] = set()
    for item in items:
        if isinstance(item, str) and item.upper() in OrderStatus.__members__:
            codes.add(OrderStatus[item.upper()].value)
        elif isinstance(item, int) and not isinstance(item, bool) and item in set(OrderStatus):
            codes.add(int(item))
        else:
            names = ", ".join(s.label for s in OrderStatus)
            shown = echo(item) if isinstance(item, str) else toml_type(item)
            invalid(f"unknown order status {shown}; use a status code or one of: {names}")
    return frozenset(codes)


def parse_hours(value: object) -> Hours:
    """``"09:00-18:00"``; a window such as ``"22:00-06:00"`` wraps past midnight."""
    if isinstance(value, Hours):
        return value
    if not isinstance(value, str):
        invalid(f'expected a time window such as "09:00-18:00", got {toml_type(value)}')
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
    if match is None:
        invalid(f'invalid time window {echo(value)} (write e.g. "09:00-18:00")')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2 != 0):
        invalid(f"invalid time in window {echo(value)}")
    end = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    if time(h1, m1) == end:
        invalid("an empty time window (start equals end)")
    return Hours(time(h1, m1), end)


def format_hours(value: Hours) -> str:
    end = "24:00" if value.end == time(23, 59, 59, 999999) else value.end.strftime("%H:%M")
    return f"{value.start.strftime('%H:%M')}-{end}"


def check_template(text: str) -> str:
    try:
        compile_template(text)
    except TemplateError as exc:
        invalid(str(exc))
    return text


def _sorted(values: frozenset[int]) -> list[int]:
    return sorted(values)


def _pattern(value: re.Pattern[str]) -> str:
    return value.pattern


EventName = Annotated[str, PlainValidator(parse_event)]
EventNames = Annotated[
    tuple[str, ...],
    PlainValidator(parse_events),
    PlainSerializer(list, return_type=list[str]),
]
Regex = Annotated[
    re.Pattern[str],
    PlainValidator(parse_regex),
    PlainSerializer(_pattern, return_type=str, when_used="json"),
]
Statuses = Annotated[
    frozenset[int],
    PlainValidator(parse_statuses),
    PlainSerializer(_sorted, return_type=list[int], when_used="json"),
]
HoursWindow = Annotated[
    Hours,
    PlainValidator(parse_hours),
    PlainSerializer(format_hours, return_type=str, when_used="json"),
]
TemplateText = Annotated[NonEmptyStr, AfterValidator(check_template)]
Count = Annotated[int, Field(ge=0)]


class RuleConditions(BaseModel):
    """The ``if`` table: every condition given must hold; none given matches everything."""

    model_config = STRICT

    side: Annotated[Literal["buy", "sell"], PlainValidator(one_of("buy", "sell"))] | None = None
    token: Code | None = None
    currency: Code | None = None
    amount_min: Money | None = None
    amount_max: Money | None = None
    payment_method: NonEmptyStr | None = None  # a payment type id or a method name
    counterparty_min_orders: Count | None = None
    counterparty_min_completion_rate: Percent | None = None
    counterparty_min_account_days: Count | None = None
    text_matches: Regex | None = None
    status: Statuses | None = None
    account: Name | None = None
    payment_confirmed: bool | None = None
    hours: HoursWindow | None = None

    @model_validator(mode="after")
    def _amount_range(self) -> RuleConditions:
        low, high = self.amount_min, self.amount_max
        if low is not None and high is not None and low > high:
            invalid("amount_min is greater than amount_max")
        return self


# -- actions: each has a short form (a string or an array) and a table form ------------


def _shorthand(key: str, accepts: tuple[type, ...], hint: str) -> BeforeValidator:
    """Let ``reply = "..."`` stand for ``reply = { text = "..." }`` and so on."""

    def expand(value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if isinstance(value, accepts) and not isinstance(value, bool):
            return {key: value}
        invalid(f"expected {hint}, got {toml_type(value)}")

    return BeforeValidator(expand)


class ReplyConfig(BaseModel):
    """Send a chat message to the counterparty (``{order.amount}`` style fields)."""

    model_config = STRICT

    text: TemplateText
    attachment: NonEmptyStr | None = None  # a file path sent after the text


class MarkPaidConfig(BaseModel):
    """Declare our fiat payment sent (buy orders), with the payment method used."""

    model_config = STRICT

    payment_method: NonEmptyStr


class RepriceConfig(BaseModel):
    """Keep one of our ads at the market's reference or best price plus ``step``.

    Runs on ``rate.changed`` for the ad's token and currency; the new price is
    clamped to [floor, ceiling], and no call is made when it would not change.
    """

    model_config = STRICT

    ad: NonEmptyStr  # the ad's id (``p2pilot ads list``)
    to: Annotated[Literal["reference", "best"], PlainValidator(one_of("reference", "best"))] = (
        "reference"
    )
    step: DecimalValue = Decimal(0)  # added to the market price; negative to undercut
    floor: PositiveMoney
    ceiling: PositiveMoney

    @model_validator(mode="after")
    def _band(self) -> RepriceConfig:
        if self.floor > self.ceiling:
            invalid(f"floor {self.floor} is above ceiling {self.ceiling}")
        return self


class WebhookConfig(BaseModel):
    """POST the event as JSON; the URL is a secret (such URLs are often bearer tokens)."""

    model_config = STRICT

    url: Secret
    secret: Secret | None = None  # HMAC key for a signature header
    timeout: Annotated[Duration, at_least("100ms")] = timedelta(seconds=5)
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 3


class NotifyConfig(BaseModel):
    """Notify a phone or chat through apprise URLs (secrets: they embed tokens)."""

    model_config = STRICT

    urls: Annotated[list[Secret], Field(min_length=1)]
    title: TemplateText | None = None
    body: TemplateText | None = None


class CommandConfig(BaseModel):
    """Run a program: an argument array, never a shell command line."""

    model_config = STRICT

    argv: Annotated[list[NonEmptyStr], Field(min_length=1)]
    timeout: Annotated[Duration, at_least("100ms")] = timedelta(seconds=10)


def _notify_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"urls": [value]}
    if isinstance(value, list):
        return {"urls": value}
    if isinstance(value, dict):
        # A single secret reference ({ env = ... }) rather than the action table.
        return {"urls": [value]} if set(value) & {"env", "file", "credential"} else value
    invalid(f"expected a URL, an array of URLs or a table, got {toml_type(value)}")


def _command_shorthand(value: Any) -> Any:
    if isinstance(value, list):
        return {"argv": value}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        invalid('write the command as an array (no shell), e.g. ["/usr/local/bin/hook", "-v"]')
    invalid(f"expected an array of arguments or a table, got {toml_type(value)}")


def _webhook_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        return {"url": value}
    if isinstance(value, dict):
        return {"url": value} if set(value) & {"env", "file", "credential"} else value
    invalid(f"expected a URL or a table, got {toml_type(value)}")


class RuleConfig(BaseModel):
    """One ``[[rules]]`` entry: on an event, if the conditions hold, run the actions."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=False)

    name: Name
    on: EventNames
    if_: RuleConditions = Field(default_factory=RuleConditions, alias="if")
    reply: Annotated[
        ReplyConfig | None, _shorthand("text", (str,), "a message string or a table")
    ] = None
    release: bool = False
    mark_paid: Annotated[
        MarkPaidConfig | None,
        _shorthand("payment_method", (str,), "a payment method string or a table"),
    ] = None
    reprice: RepriceConfig | None = None
    webhook: Annotated[WebhookConfig | None, BeforeValidator(_webhook_shorthand)] = None
    notify: Annotated[NotifyConfig | None, BeforeValidator(_notify_shorthand)] = None
    command: Annotated[CommandConfig | None, BeforeValidator(_command_shorthand)] = None

    @model_validator(mode="after")
    def _has_action(self) -> RuleConfig:
        if not self.actions:
            invalid(f"a rule needs at least one action ({', '.join(ACTION_NAMES)})")
        return self

    @property
    def conditions(self) -> RuleConditions:
        """The ``if`` table (``if`` is a Python keyword)."""
        return self.if_

    @property
    def actions(self) -> tuple[str, ...]:
        """Names of the actions this rule runs, in the fixed order they run."""
        return tuple(
            name
            for name in ACTION_NAMES
            if (self.release if name == "release" else getattr(self, name) is not None)
        )
