"""Value types of the config: durations, money, names and URLs, parsed strictly from TOML.

Each parser takes whatever TOML produced and either returns the typed value or
raises ``invalid(...)``, a pydantic error carrying a message meant for the
operator. Parsers never let another exception escape, so any input ends as a
``ConfigError`` naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, NoReturn
from urllib.parse import urlsplit

from pydantic import AfterValidator, PlainSerializer, PlainValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from p2pilot.numbers import NumberError, exact_decimal

CONFIG_ERROR = "p2pilot_config"
MAX_ECHO = 40  # longest bad value quoted back in a message
MAX_DURATION = timedelta(days=30)


def invalid(message: str) -> NoReturn:
    """Raise a validation error whose message is exactly ``message``."""
    # Passed through the context so braces in ``message`` are never treated as fields.
    raise PydanticCustomError(CONFIG_ERROR, "{message}", {"message": message})


def toml_type(value: object) -> str:
    """How TOML calls the type of a parsed value, with an article: 'an integer'."""
    match value:
        case bool():
            return "a boolean"
        case int():
            return "an integer"
        case float():
            return "a float"
        case str():
            return "a string"
        case list() | tuple():
            return "an array"
        case dict():
            return "a table"
        case _:
            return "a date/time" if hasattr(value, "isoformat") else type(value).__name__


def echo(text: str) -> str:
    """A bad (non-secret) value quoted for a message, cut short if long."""
    return repr(text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "...")


# -- durations ------------------------------------------------------------------------

DURATION_HINT = "use e.g. 500ms, 5s, 2m, 1h"
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(value: object) -> timedelta:
    """``"500ms"``, ``"5s"``, ``"2m"``, ``"1h30m"``, or an int of seconds, as a timedelta."""
    if isinstance(value, timedelta):
        seconds = Decimal(str(value.total_seconds()))
    elif isinstance(value, bool) or not isinstance(value, int | str):
        if isinstance(value, float):
            invalid(f'write durations as strings with a unit, e.g. "{value:g}s"')
        invalid(f"expected a duration ({DURATION_HINT}), got {toml_type(value)}")
    elif isinstance(value, int):
        seconds = Decimal(value)
    else:
        seconds = _duration_seconds(value)
    if seconds < 0:
        invalid("a duration cannot be negative")
    if seconds > Decimal(MAX_DURATION.total_seconds()):
        invalid(f"duration is too long (at most {format_duration(MAX_DURATION)})")
    return timedelta(microseconds=int(seconds * 1_000_000))


def _duration_seconds(text: str) -> Decimal:
    position, total_ms = 0, Decimal(0)
    while position < len(text):
        part = _DURATION_PART.match(text, position)
        if part is None or part.end() == position:
            break
        total_ms += Decimal(part.group(1)) * _UNIT_MS[part.group(2)]
        position = part.end()
    if position != len(text) or not text.strip():
        invalid(f"invalid duration {echo(text)} ({DURATION_HINT})")
    return total_ms / 1000


def format_duration(value: timedelta) -> str:
    """The shortest way to write ``value`` back: ``"500ms"``, ``"5s"``, ``"1h30m"``."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    parts = []
    for unit in ("h", "m", "s", "ms"):
        count, total_ms = divmod(total_ms, _UNIT_MS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def at_least(minimum: str, why: str = "") -> AfterValidator:
    """A duration must be at least ``minimum`` (written as in the config)."""
    floor = parse_duration(minimum)
    reason = f" ({why})" if why else ""

    def check(value: timedelta) -> timedelta:
        if value < floor:
            invalid(f"must be at least {minimum}{reason}")
        return value

    return AfterValidator(check)


Duration = Annotated[
    timedelta,
    PlainValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]


# -- money and other decimals ---------------------------------------------------------


def parse_decimal(value: object) -> Decimal:
    """An exact, bounded decimal from a string or an int; floats are refused, never rounded."""
    if isinstance(value, float):
        invalid('write amounts as strings, e.g. "5000" (a TOML float is not exact)')
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        invalid(f'expected a decimal string such as "5000", got {toml_type(value)}')
    try:
        return exact_decimal(value)
    except NumberError as exc:
        invalid(str(exc))


def non_negative(value: Decimal) -> Decimal:
    """Refuse negative amounts."""
    if value < 0:
        invalid("cannot be negative")
    return value


def positive(value: Decimal) -> Decimal:
    """Refuse zero and negative values."""
    if value <= 0:
        invalid("must be greater than 0")
    return value


def percentage(value: Decimal) -> Decimal:
    """Refuse values outside 0..100."""
    if not 0 <= value <= 100:
        invalid("must be a percentage between 0 and 100")
    return value


def _decimal_to_str(value: Decimal) -> str:
    return str(value)


DecimalValue = Annotated[
    Decimal,
    PlainValidator(parse_decimal),
    PlainSerializer(_decimal_to_str, return_type=str, when_used="json"),
]
Money = Annotated[DecimalValue, AfterValidator(non_negative)]
PositiveMoney = Annotated[DecimalValue, AfterValidator(positive)]
PositiveDecimal = PositiveMoney
Percent = Annotated[DecimalValue, AfterValidator(percentage)]


def parse_currency_limits(value: object, info: ValidationInfo) -> dict[str, Decimal]:
    """``{ RUB = "50000", USD = "500" }``: a non-negative amount per currency.

    A bare amount is refused: on a desk that trades several currencies it meant
    different money in each (the message shows the table form to write instead).
    """
    key = info.field_name or "limit"
    if not isinstance(value, dict):
        example = _amount_example(value)
        invalid(
            f'a limit names its currency: write {key} = {{ RUB = "{example}" }}'
            f" (one entry per currency; a currency without one is never released"
            f" automatically), got {toml_type(value)}"
        )
    limits: dict[str, Decimal] = {}
    for currency, amount in value.items():
        code = parse_code(currency)
        try:
            limits[code] = non_negative(parse_decimal(amount))
        except PydanticCustomError as exc:
            invalid(f"{code}: {exc.context['message'] if exc.context else exc.message()}")
    return limits


def _amount_example(value: object) -> str:
    """The bare amount given, to show in the table form; a stand-in if it is no number."""
    # Only a valid amount is echoed: anything else might be a secret pasted by mistake.
    if isinstance(value, int | str) and not isinstance(value, bool):
        try:
            return str(exact_decimal(value))
        except NumberError:
            pass
    return "50000"


def _limits_to_json(value: dict[str, Decimal]) -> dict[str, str]:
    return {code: str(amount) for code, amount in value.items()}


CurrencyLimits = Annotated[
    dict[str, Decimal],
    PlainValidator(parse_currency_limits),
    PlainSerializer(_limits_to_json, return_type=dict[str, str], when_used="json"),
]


# -- names, strings and URLs ------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z0-9_.-]+")


def parse_name(value: object) -> str:
    """An identifier for accounts and rules: letters, digits, ``_ . -``."""
    if not isinstance(value, str):
        invalid(f"expected a string, got {toml_type(value)}")
    if not _NAME.fullmatch(value):
        invalid("must be made of letters, digits, '_', '.' or '-' (and not empty)")
    return value


def parse_code(value: object) -> str:
    """A token or currency code such as ``USDT`` or ``RUB``; upper-cased."""
    if not isinstance(value, str):
        invalid(f"expected a string, got {toml_type(value)}")
    code = value.strip().upper()
    if not re.fullmatch(r"[A-Z0-9]{2,12}", code):
        invalid(f"invalid code {echo(value)} (write e.g. USDT or RUB)")
    return code


def non_empty(value: str) -> str:
    """Refuse empty or blank strings."""
    if not value.strip():
        invalid("cannot be empty")
    return value


def parse_http_url(value: object) -> str:
    """An ``http://`` or ``https://`` URL; a trailing slash is dropped."""
    if not isinstance(value, str):
        invalid(f"expected a URL string, got {toml_type(value)}")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        # The URL itself is not repeated: it may carry credentials.
        invalid("invalid URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        invalid("must be an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        invalid("must not have a query string or a fragment")
    return value.rstrip("/")


Name = Annotated[str, PlainValidator(parse_name)]
NonEmptyStr = Annotated[str, AfterValidator(non_empty)]
Code = Annotated[str, PlainValidator(parse_code)]
HttpUrl = Annotated[str, PlainValidator(parse_http_url)]


def one_of(*choices: str) -> Callable[[object], str]:
    """A validator accepting exactly one of ``choices`` (case-insensitive)."""
    allowed = ", ".join(repr(c) for c in choices)

    def check(value: object) -> str:
        if not isinstance(value, str):
            invalid(f"expected one of {allowed}, got {toml_type(value)}")
        if value.lower() not in choices:
            invalid(f"must be one of {allowed}")
        return value.lower()

    return check


def parse_listen(value: object) -> str:
    """``HOST:PORT``; the port must be a number (0 picks a free one, for tests)."""
    if not isinstance(value, str) or ":" not in value:
        raise ValueError('expected "HOST:PORT", e.g. "127.0.0.1:8766"')
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError('expected "HOST:PORT", e.g. "127.0.0.1:8766"')
    return value
