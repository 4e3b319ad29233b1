"""Money as banks write it in messages: "8 145,00 ₽", "$1,234.50", "1.234,56 руб.".

Amounts become ``Decimal``. Thousands separators may be spaces (also the no-break
and thin spaces banks use), apostrophes, dots or commas; the decimal separator a
comma or a dot. When a text could be read two ways ("1,234" is 1234 in English
and 1.234 elsewhere) it is refused, unless the template says which separator is
the decimal one: money is never guessed.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_AMOUNT_CHARS = 40

# Signs and words, lower-cased, that name a currency next to an amount.
CURRENCY_WORDS: dict[str, str] = {
    "₽": "RUB",
    "р": "RUB",
    "р.": "RUB",
    "руб": "RUB",
    "руб.": "RUB",
    "рублей": "RUB",
    "рубля": "RUB",
    "рубль": "RUB",
    "rub": "RUB",
    "rur": "RUB",
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "€": "EUR",
    "eur": "EUR",
    "₸": "KZT",
    "тг": "KZT",
    "тг.": "KZT",
    "тенге": "KZT",
    "kzt": "KZT",
    "₴": "UAH",
    "грн": "UAH",
    "грн.": "UAH",
    "uah": "UAH",
    "br": "BYN",
    "byn": "BYN",
    "сум": "UZS",
    "uzs": "UZS",
    "₺": "TRY",
    "try": "TRY",
    "₹": "INR",
    "inr": "INR",
    "₦": "NGN",
    "ngn": "NGN",
    "£": "GBP",
    "gbp": "GBP",
    "₾": "GEL",
    "gel": "GEL",
    "֏": "AMD",
    "amd": "AMD",
}
_SIGNS = "₽$€₸₴₺₹₦£₾֏"
# Spaces of every width banks put between thousands, and the Swiss apostrophe.
_GROUPING = re.compile(r"[\s\u00a0\u2007\u2009\u202f'’]")
_NUMBER = re.compile(r"[+-]?\d[\d\s\u00a0\u2007\u2009\u202f'’.,]*")
_WORD = re.compile(rf"[{_SIGNS}]|[^\W\d_]+\.?", re.UNICODE)


class AmountError(ValueError):
    """The text holds no amount we can read without guessing."""


def currency_of(text: str) -> str | None:
    """The currency a sign, a word or an ISO code in ``text`` names, if exactly one."""
    found = set()
    for token in _WORD.findall(text):
        code = CURRENCY_WORDS.get(token.lower())
        if code is None and len(token) == 3 and token.isascii() and token.isupper():
            code = token  # an ISO 4217 code we have no word for: KGS, AZN, ...
        if code is not None:
            found.add(code)
    return found.pop() if len(found) == 1 else None


def parse_amount(text: str, *, decimal_separator: str | None = None) -> Decimal:
    """The amount in ``text`` (currency signs and words around it are ignored).

    ``decimal_separator`` ("," or ".") settles amounts such as "1,234" that a
    text alone leaves open. A sign in front (``+8 145 ₽`` for a credit) is dropped;
    the amount must be positive.
    """
    if len(text) > MAX_AMOUNT_CHARS:
        raise AmountError("amount text is too long")
    numbers = [n.strip(" .,'’\u00a0\u2007\u2009\u202f") for n in _NUMBER.findall(text)]
    numbers = [n for n in numbers if n]
    if len(numbers) != 1:
        raise AmountError(f"expected one number in {text!r}, found {len(numbers)}")
    digits = _GROUPING.sub("", numbers[0]).lstrip("+")
    if digits.startswith("-"):
        raise AmountError("a negative amount is not money received")
    value = _decimal(digits, decimal_separator)
    if value <= 0:
        raise AmountError("the amount must be positive")
    return value


def _decimal(digits: str, decimal_separator: str | None) -> Decimal:
    separators = [ch for ch in digits if ch in ".,"]
    if decimal_separator is not None:
        grouping = "," if decimal_separator == "." else "."
        plain = digits.replace(grouping, "").replace(decimal_separator, ".")
    elif not separators:
        plain = digits
    elif len(set(separators)) == 2:
        # Both appear: the last one is the decimal separator ("1.234,56", "1,234.56").
        decimal = separators[-1]
        if separators.count(decimal) > 1:
            raise AmountError(f"cannot read {digits!r}: {decimal!r} appears twice")
        grouping = "," if decimal == "." else "."
        plain = digits.replace(grouping, "").replace(decimal, ".")
    else:
        separator = separators[0]
        parts = digits.split(separator)
        if len(parts) > 2:  # "1.234.567": only thousands are written this way
            if any(len(p) != 3 for p in parts[1:]):
                raise AmountError(f"cannot read {digits!r}")
            plain = "".join(parts)
        elif len(parts[1]) == 3:
            raise AmountError(
                f"{digits!r} is ambiguous (thousands or decimals?);"
                ' set decimal_separator = "," or "." in the template'
            )
        else:
            plain = f"{parts[0]}.{parts[1]}"
    try:
        value = Decimal(plain)
    except InvalidOperation as exc:
        raise AmountError(f"cannot read {digits!r}") from exc
    if not value.is_finite():
        raise AmountError(f"cannot read {digits!r}")
    return value
