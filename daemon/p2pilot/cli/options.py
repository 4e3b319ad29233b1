"""Numeric CLI options, range-checked while the command line is parsed.

Each parser goes through ``p2pilot.numbers`` (the validator HTTP and the config
use too) and turns its refusal into ``typer.BadParameter``: the CLI prints one
line naming the option and exits 2 before the command touches anything.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated

import typer

from p2pilot.numbers import MAX_COUNT, NumberError, count, exact_decimal

MAX_LIMIT = 1_000_000


def amount_of(text: str) -> Decimal:
    """A positive decimal amount such as ``8145.00``."""
    if isinstance(text, float):  # a default written in the code, not typed by anyone
        text = repr(text)
    try:
        return exact_decimal(text, positive=True)
    except NumberError as exc:
        raise typer.BadParameter(str(exc)) from None


def whole(minimum: int, maximum: int = MAX_COUNT) -> Callable[[str], int]:
    """A whole number within ``minimum..maximum``."""

    def parse(text: str) -> int:
        try:
            return count(text, minimum=minimum, maximum=maximum)
        except NumberError as exc:
            raise typer.BadParameter(str(exc)) from None

    return parse


def positive_float(text: str) -> float:
    """A finite positive factor such as a speed-up (``2.5``)."""
    return float(amount_of(text))


Limit = Annotated[
    int | None,
    typer.Option(parser=whole(1, MAX_LIMIT), help="At most this many, newest first."),
]
