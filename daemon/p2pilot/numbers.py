"""Numbers from outside (HTTP bodies, CLI options, the config file), range-checked on entry.

One validator for every door a number comes in by. ``Decimal`` takes text such
as ``1e999999999``, ``sNaN`` or ``0e-99999999`` without complaint, and the damage
comes later: formatting the first as plain text builds a gigabyte string, the
second raises on comparison, the third prints as 99,999,999 zeros. So the text
is checked (length, ASCII syntax) *before* it is converted, and the value
(finite, exponent, scale, sign) before anyone formats it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_TEXT = 40  # characters of a number as written
MAX_INTEGER_DIGITS = 18  # below 10**18: more than any fiat amount, price or token quantity
MAX_SCALE = 18  # decimal places (a token's smallest unit; ETH has 18)
MAX_COUNT = 1_000_000_000  # a count or limit the CLI takes (fits every database's integer)

# Plain ASCII decimal syntax: no NaN, Infinity, underscores or non-ASCII digits.
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_COUNT = re.compile(r"[+-]?\d+", re.ASCII)


class NumberError(ValueError):
    """A number that cannot be taken; the message says why, for the person who wrote it."""


def exact_decimal(
    value: object,
    *,
    positive: bool = False,
    non_negative: bool = False,
    max_scale: int = MAX_SCALE,
) -> Decimal:
    """``value`` (a string, an int or a Decimal) as a finite, bounded Decimal.

    Floats are refused (they are never exact). Raises NumberError naming the problem.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        kind = "a float" if isinstance(value, float) else type(value).__name__
        raise NumberError(f'expected a decimal string such as "8145.00", got {kind}')
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT:
            raise NumberError(f"number is too long (at most {MAX_TEXT} characters)")
        if not _DECIMAL.fullmatch(text):
            raise NumberError(f'{_echo(value)} is not a decimal number (write e.g. "8145.00")')
        try:
            number = Decimal(text)
        except InvalidOperation as exc:  # the pattern should have caught it; never guess
            raise NumberError(f"{_echo(value)} is not a decimal number") from exc
    elif isinstance(value, int):
        if value.bit_length() > 64:
            raise NumberError(f"number is too large (at most {MAX_INTEGER_DIGITS} digits)")
        number = Decimal(value)
    else:
        number = value
    return check_decimal(number, positive=positive, non_negative=non_negative, max_scale=max_scale)


def check_decimal(
    number: Decimal,
    *,
    positive: bool = False,
    non_negative: bool = False,
    max_scale: int = MAX_SCALE,
) -> Decimal:
    """Refuse a Decimal that is not finite, too large, too finely divided or of the wrong sign."""
    if not number.is_finite():
        raise NumberError("number must be finite")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite: never 'n', 'N' or 'F'
    # adjusted() and the exponent are read off the representation: nothing is formatted yet.
    if number.adjusted() >= MAX_INTEGER_DIGITS:
        raise NumberError(f"number is too large (at most {MAX_INTEGER_DIGITS} digits)")
    if exponent < -max_scale:
        raise NumberError(f"too many decimal places (at most {max_scale})")
    if positive and number <= 0:
        raise NumberError("must be greater than 0")
    if non_negative and number < 0:
        raise NumberError("cannot be negative")
    return number


def count(value: object, *, minimum: int = 0, maximum: int = MAX_COUNT) -> int:
    """A whole number within ``minimum..maximum`` from a string or an int."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise NumberError(f"expected a whole number, got {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT or not _COUNT.fullmatch(text):
            raise NumberError(f"{_echo(value)} is not a whole number")
        number = int(text)
    else:
        number = value
    if not minimum <= number <= maximum:
        raise NumberError(f"must be between {minimum} and {maximum}")
    return number


def _echo(text: str) -> str:
    """A bad value quoted back, cut short (it came from outside and may be huge)."""
    return repr(text if len(text) <= 24 else text[:24] + "...")
