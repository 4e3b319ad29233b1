"""Request bodies carry the JSON types each endpoint wants (reference §2, §6 Q6/Q7)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from p2pilot.exchange import parse
from p2pilot.exchange import requests as req
from p2pilot.records import OrderStatus, PriceType, Side, TradingPreferences

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_payloads.json"


def params(**changes: object) -> req.AdParams:
    base = req.AdParams(
        token="USDT",
        currency="RUB",
        side=Side.SELL,
        price_type=PriceType.FIXED,
        price=Decimal("81.45"),
        quantity=Decimal("1E+3"),
        min_amount=Decimal("1000"),
        max_amount=Decimal("150000.00"),
        payment_ids=("9120044",),
        payment_period=15,
        remark="SBP only",
        trading_preferences=TradingPreferences(
            is_kyc=True, has_complete_rate_day30=True, complete_rate_day30="90"
        ),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_orders_body_integers_and_ms_strings() -> None:
    body = req.orders_body(
        page=2,
        size=30,
        status=OrderStatus.PAID,
        begin=datetime(2026, 11, 1, tzinfo=UTC),
        end=datetime(2026, 11, 2, 0, 0, 0, 123456, tzinfo=UTC),
    )
    assert body == {
        "page": 2,
        "size": 30,
        "status": 20,
        "beginTime": "1793491200000",
        "endTime": "1793577600123",
    }
    assert type(body["status"]) is int


@pytest.mark.parametrize(("page", "size"), [(0, 10), (1, 31), (1, 0), (True, 10), (1, 10.0)])
def test_orders_body_rejects_bad_paging(page: object, size: object) -> None:
    with pytest.raises(ValueError):
        req.orders_body(page=page, size=size)  # type: ignore[arg-type]


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        req.orders_body(page=1, size=10, begin=datetime(2026, 11, 1))


def test_string_only_bodies() -> None:
    online = req.online_ads_body(token="USDT", currency="RUB", side=Side.BUY, page=1, size=100)
    assert online == {
        "tokenId": "USDT",
        "currencyId": "RUB",
        "side": "0",
        "page": "1",
        "size": "100",
    }
    assert req.mark_paid_body(order_id="19911", payment_type=582, payment_id="9120044") == {
        "orderId": "19911",
        "paymentType": "582",
        "paymentId": "9120044",
    }
    assert req.chat_messages_body("19911", page=3, size=30) == {
        "orderId": "19911",
        "size": "30",
        "currentPage": "3",
    }
    assert req.my_ads_body(page=1, size=30, token="USDT", currency=None) == {
        "page": "1",
        "size": "30",
        "tokenId": "USDT",
    }


def test_chat_send_requires_uuid() -> None:
    body = req.send_chat_body(
        order_id="1", text="hi", msg_uuid="u1", content_type="STR", file_name=None
    )
    assert body == {"orderId": "1", "message": "hi", "contentType": "str", "msgUuid": "u1"}
    with pytest.raises(ValueError):
        req.send_chat_body(order_id="1", text="hi", msg_uuid="", content_type="str", file_name=None)


def test_session_bodies() -> None:
    # lastId only when paging back: one live report has listpage_v1 answer nothing with it.
    assert req.session_messages_body("S", limit=30, last_id=None) == {"sessionId": "S", "limit": 30}
    assert req.session_messages_body("S", limit=5, last_id="3004511299")["lastId"] == 3004511299
    assert req.chat_sessions_body(size=30, last_id=None, read_status=0) == {
        "size": 30,
        "readStatus": 0,
    }
    assert req.chat_sessions_body(size=20, last_id="7", read_status=None) == {
        "size": 20,
        "lastId": 7,
    }
    with pytest.raises(ValueError):
        req.chat_sessions_body(size=50, last_id=None, read_status=None)
    assert req.send_session_body(order_id="1", session_id="S", text="hi", content_type="str") == {
        "orderId": "1",
        "sessionId": "S",
        "contentType": "STR",
        "message": "hi",
    }


def test_create_body_all_strings() -> None:
    body = params().create_body()
    assert body["quantity"] == "1000"  # no exponent
    assert body["maxAmount"] == "150000.00"
    assert body["side"] == "1" and body["priceType"] == "0" and body["premium"] == "0"
    assert body["paymentIds"] == ["9120044"]
    assert body["paymentPeriod"] == "15"
    assert body["itemType"] == "ORIGIN"
    prefs = body["tradingPreferenceSet"]
    assert len(prefs) == 12
    assert all(type(value) is str for value in prefs.values())
    assert (prefs["isKyc"], prefs["hasCompleteRateDay30"], prefs["completeRateDay30"]) == (
        "1",
        "1",
        "90",
    )
    scalars = {k: v for k, v in body.items() if k not in ("tradingPreferenceSet", "paymentIds")}
    assert all(type(value) is str for value in scalars.values())


def test_update_body() -> None:
    floating = params(price_type=PriceType.FLOATING, premium=Decimal("101.50"))
    body = floating.update_body("1987", "ACTIVE")
    assert body["id"] == "1987" and body["actionType"] == "ACTIVE"
    assert body["premium"] == "101.50" and body["priceType"] == "1"
    assert "tokenId" not in body and "side" not in body and "itemType" not in body
    with pytest.raises(ValueError):
        floating.update_body("1987", "PAUSE")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"payment_ids": ()},
        {"payment_ids": tuple(str(i) for i in range(6))},
        {"payment_ids": "9120044"},
        {"remark": "x" * 901},
        {"price": Decimal("NaN")},
        {"price": 81.45},
        {"min_amount": Decimal("200000")},
    ],
)
def test_ad_params_validation(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        params(**changes)


def test_params_from_ad_resend_what_is_left() -> None:
    payload = json.loads(FIXTURES.read_text(encoding="utf-8"))["ad_detail"]
    ad = parse.parse_ad(payload)
    body = req.AdParams.from_ad(ad).update_body(ad.id, "MODIFY")
    assert body["quantity"] == "1450.5"  # lastQuantity, not the original 2000
    assert body["paymentIds"] == ["9120044"]
    assert body["premium"] == "101.5"
    assert body["tradingPreferenceSet"]["completeRateDay30"] == "90"
