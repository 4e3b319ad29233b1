"""A rule's ``payment_method`` reads the method the buyer chose the way the adapter does."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from p2pilot.exchange import parse
from p2pilot.rules.context import OrderFacts
from p2pilot.store.models import OrderRow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_payloads.json"


@pytest.fixture
def detail() -> dict[str, Any]:
    """The reference ``order/info`` result: confirmedPayTerm 9120044, listed as SBP (582)."""
    data: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
    return copy.deepcopy(data["order_detail"]["result"])


def names(raw: dict[str, Any]) -> frozenset[str]:
    now = datetime(2026, 11, 30, tzinfo=UTC)
    row = OrderRow(
        id=1,
        account_id=1,
        exchange_id="1",
        side=1,
        status=20,
        token="USDT",
        currency="RUB",
        amount=Decimal("1"),
        price=Decimal("1"),
        payment_type=raw.get("paymentType"),
        created_at=now,
        raw=raw,
    )
    return OrderFacts.from_row(row).payment_names


def test_the_chosen_term_is_named_by_the_sellers_list(detail: dict[str, Any]) -> None:
    # The chosen term comes trimmed (no paymentConfigVo); the listed one names it.
    assert names(detail) == {"sbp"}
    assert (
        parse.stored_payment(detail)
        == parse.parse_order_detail(
            {"retCode": 0, "retMsg": "SUCCESS", "result": detail}
        ).confirmed_payment
    )


def test_a_named_chosen_term_names_itself(detail: dict[str, Any]) -> None:
    detail["confirmedPayTerm"]["paymentConfigVo"] = {"paymentName": "Tinkoff"}
    assert names(detail) == {"tinkoff"}


def test_without_a_chosen_term_the_listed_method_of_the_orders_type(
    detail: dict[str, Any],
) -> None:
    del detail["confirmedPayTerm"]
    assert names(detail) == {"sbp"}
    detail["paymentType"] = 0
    assert names(detail) == frozenset()


def test_a_garbled_or_listless_stored_order_names_nothing(detail: dict[str, Any]) -> None:
    assert names({}) == frozenset()
    detail["paymentTermList"] = "garbled"
    assert names(detail) == frozenset()
