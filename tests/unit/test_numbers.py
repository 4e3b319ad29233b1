"""The one validator every number from outside goes through (HTTP, CLI, config)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from p2pilot.numbers import MAX_TEXT, NumberError, count, exact_decimal


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1e50000000", "too large"),
        ("1e999999999", "too large"),
        ("-1e999999999", "too large"),
        ("0e999999999", "too large"),
        ("0e-99999999", "decimal places"),
        ("1." + "0" * 30, "decimal places"),
        ("sNaN", "not a decimal number"),
        ("NaN", "not a decimal number"),
        ("-Infinity", "not a decimal number"),
        ("1_000", "not a decimal number"),
        ("²³", "not a decimal number"),
        ("٣", "not a decimal number"),  # an Arabic-Indic digit: Decimal() would take it
        ("1,5", "not a decimal number"),
        ("", "not a decimal number"),
        ("9" * (MAX_TEXT + 1), "too long"),
        ("1" * 19, "too large"),
    ],
)
def test_absurd_numbers_are_refused_before_anything_formats_them(text: str, problem: str) -> None:
    with pytest.raises(NumberError, match=problem):
        exact_decimal(text)


def test_sign_float_and_type_rules() -> None:
    assert exact_decimal(" 8145.00 ") == Decimal("8145.00")
    assert str(exact_decimal("8145.00")) == "8145.00"  # the scale survives
    assert exact_decimal(5000) == Decimal(5000)
    assert exact_decimal("1e3") == Decimal(1000)
    with pytest.raises(NumberError, match="greater than 0"):
        exact_decimal("0", positive=True)
    with pytest.raises(NumberError, match="negative"):
        exact_decimal("-0.01", non_negative=True)
    with pytest.raises(NumberError, match="float"):
        exact_decimal(2500.5)
    with pytest.raises(NumberError):
        exact_decimal(True)
    with pytest.raises(NumberError, match="too large"):
        exact_decimal(10**30)
    with pytest.raises(NumberError, match="finite"):
        exact_decimal(Decimal("sNaN"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("99999999999999999999", "between"),
        ("-1", "between"),
        ("-5", "between"),
        ("1e3", "not a whole number"),
        ("²", "not a whole number"),
        ("9" * 5000, "not a whole number"),
    ],
)
def test_counts_are_bounded(text: str, problem: str) -> None:
    with pytest.raises(NumberError, match=problem):
        count(text, minimum=1)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=60) | st.from_regex(r"[+-]?[0-9]{0,30}(\.[0-9]{0,30})?([eE][+-]?[0-9]{1,12})?")
)
def test_any_text_is_a_bounded_decimal_or_a_number_error(text: str) -> None:
    try:
        value = exact_decimal(text)
    except NumberError:
        return
    # Whatever is accepted formats as short plain text.
    assert len(format(value, "f")) <= 40
