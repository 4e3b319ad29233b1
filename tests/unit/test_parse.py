"""Parsing the exchange's payloads into records: every example of reference §2, both
envelopes, numbers as ints or strings, and malformed shapes."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from p2pilot.exchange import parse
from p2pilot.exchange import requests as paths
from p2pilot.exchange.errors import MalformedResponse
from p2pilot.exchange.fields import Reader
from p2pilot.records import (
    AdStatus,
    ChatApi,
    ChatRole,
    OrderStatus,
    PriceType,
    Side,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reference_payloads.json"


@pytest.fixture(scope="module")
def payloads() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURES.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def ref(payloads: dict[str, Any]) -> dict[str, Any]:
    """A deep copy per test, so tests may mutate payloads freely."""
    return copy.deepcopy(payloads)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[arg-type,misc]


def exact(value: Decimal | None, text: str) -> None:
    """Equal and with the same digits (scale kept: "8145.00" is not "8145")."""
    assert value is not None
    assert isinstance(value, Decimal)
    assert str(value) == text


# ---- every §2 example ---------------------------------------------------------


def test_account_info(ref: dict[str, Any]) -> None:
    me = parse.parse_user_profile(ref["account_info"])
    assert me.user_id == "52700411"
    assert me.nickname == "DeskRUB"
    assert me.real_name == "IVAN P"
    assert me.kyc_level == "2"  # an int on the wire, a string in the record
    assert me.kyc_country == "KAZ"
    exact(me.recent_rate, "98")
    exact(me.good_appraise_rate, "99.2")
    assert (me.recent_finish_count, me.total_finish_count) == (412, 5120)
    assert (me.account_create_days, me.first_trade_days) == (1315, 1200)
    assert me.auth_status == 1
    assert me.blocked == ""
    assert me.registered_at == utc(2022, 4, 15, 5, 20)  # registerTime is in seconds
    assert me.is_online is True
    assert me.raw["userType"] == "PERSONAL"


def test_counterparty_info(ref: dict[str, Any]) -> None:
    them = parse.parse_user_profile(ref["counterparty_info"], paths.COUNTERPARTY_INFO)
    assert them.user_id == ""
    assert them.nickname == "anna_k"
    assert them.total_finish_count == 58
    exact(them.recent_rate, "97")
    exact(them.good_appraise_rate, "100")
    assert them.auth_status == 2
    assert them.blocked == "N"
    assert them.registered_at == utc(2024, 10, 19, 1, 6, 40)


def test_my_ads(ref: dict[str, Any]) -> None:
    page = parse.parse_ad_page(ref["my_ads"])
    assert page.count == 1
    (ad,) = page.items
    assert ad.id == "1987654321098765432"
    assert ad.user_id == "52700411"
    assert ad.side is Side.SELL
    assert ad.price_type is PriceType.FIXED
    assert ad.premium is None  # "0" on a fixed-price ad means unset
    exact(ad.price, "81.45")
    exact(ad.quantity, "2000")
    exact(ad.last_quantity, "1450.5")
    exact(ad.frozen_quantity, "120")
    exact(ad.executed_quantity, "429.5")
    exact(ad.min_amount, "1000")
    exact(ad.max_amount, "150000")
    assert ad.status is AdStatus.ONLINE
    assert ad.payment_types == ["582"]
    (term,) = ad.payment_terms
    assert (term.id, term.payment_type, term.name) == ("9120044", 582, "SBP")
    assert term.account_no == "+7999*******"
    assert ad.payment_period == 15
    assert ad.trading_preferences.is_kyc is True
    assert ad.trading_preferences.has_complete_rate_day30 is False
    assert ad.price_band is None  # percentages without a reference price: no band known
    assert ad.created_at == utc(2025, 11, 23, 12, 13, 20)
    assert ad.updated_at == utc(2025, 11, 24, 13, 13, 20)


def test_ad_detail_floating(ref: dict[str, Any]) -> None:
    ad = parse.parse_ad(ref["ad_detail"])
    assert ad.price_type is PriceType.FLOATING
    exact(ad.premium, "101.5")
    prefs = ad.trading_preferences
    assert prefs.has_complete_rate_day30 is True
    assert prefs.complete_rate_day30 == "90"
    assert prefs.national_limit == ""
    assert ad.price_band is None  # no symbolInfo in this example
    assert ad.payment_terms[0].id == "9120044"


@pytest.mark.parametrize("name", ["update_ad", "remove_ad"])
def test_action_envelopes(ref: dict[str, Any], name: str) -> None:
    parse.check_action(ref[name], paths.UPDATE_AD)  # raises on a bad envelope


def test_orders(ref: dict[str, Any]) -> None:
    page = parse.parse_order_page(ref["orders"])
    assert page.count == 42
    (order,) = page.items
    assert order.id == "1991122334455667788"
    assert order.side is Side.SELL
    assert order.status is OrderStatus.PAID
    assert (order.token, order.currency) == ("USDT", "RUB")
    exact(order.amount, "8145.00")
    exact(order.price, "81.45")
    exact(order.quantity, "100.0000")
    exact(order.fee, "0")
    assert order.counterparty_nickname == "buyer_77"
    assert order.counterparty_user_id == "60012345"
    assert order.user_id == "52700411"
    assert (order.seller_real_name, order.buyer_real_name) == ("IVAN PETROV", "OLEG S")
    assert order.created_at == utc(2025, 11, 24, 15, 43, 20)
    assert order.transfer_seconds_left == 0
    assert (order.unread_count, order.self_unread_count) == (1, 1)


def test_pending_orders(ref: dict[str, Any]) -> None:
    (order,) = parse.parse_order_page(ref["pending_orders"], paths.PENDING_ORDERS).items
    assert order.status is OrderStatus.AWAITING_PAYMENT
    exact(order.amount, "4072.50")
    assert order.transfer_seconds_left == 871
    assert order.created_at == utc(2025, 11, 24, 16, 0)


def test_order_detail(ref: dict[str, Any]) -> None:
    order = parse.parse_order_detail(ref["order_detail"])
    assert order.id == "1991122334455667788"
    assert order.status is OrderStatus.PAID
    exact(order.quantity, "100.0000")
    exact(order.amount, "8145.00")
    assert order.item_id == "1987654321098765432"
    assert order.is_maker is True
    assert order.counterparty_mask_id == "s0c1d2e3f4"
    assert order.payment_type == 582
    assert [t.id for t in order.payment_terms] == ["9120044"]
    assert order.payment_terms[0].online is False  # "0" on the wire
    assert order.confirmed_payment is not None
    assert order.confirmed_payment.id == "9120044"
    assert order.confirmed_payment.name == "SBP"  # borrowed from the listed term
    assert order.created_at == utc(2025, 11, 24, 15, 43, 20)
    assert order.paid_at == utc(2025, 11, 24, 15, 50)
    assert order.updated_at == utc(2025, 11, 24, 15, 50)
    assert order.can_appeal is False
    assert order.appeal_user_id == ""  # "0" means nobody
    assert order.cancel_reason == ""


def test_chat_messages_nested(ref: dict[str, Any]) -> None:
    user, system = parse.parse_chat_messages(ref["chat_messages"])
    assert user.id == "3004511202"
    assert user.order_id == "1991122334455667788"
    assert user.sender_user_id == "60012345"
    assert user.text == "paid, check please"
    assert user.role is ChatRole.USER
    assert user.msg_type == 1
    assert user.api is ChatApi.ORDER
    assert user.created_at == utc(2025, 11, 24, 15, 50, 20)
    assert system.role is ChatRole.SYSTEM
    assert system.msg_type == 0


def test_upload_chat_file(ref: dict[str, Any]) -> None:
    uploaded = parse.parse_uploaded_file(ref["upload_chat_file"])
    assert uploaded.url.startswith("/fiat/p2p/oss/showObj/otc/9001/")
    assert uploaded.type == "IMAGE"


def test_create_ad(ref: dict[str, Any]) -> None:
    assert parse.parse_created_ad_id(ref["create_ad"]) == "1992000000000000001"


def test_online_ads(ref: dict[str, Any]) -> None:
    page = parse.parse_online_ad_page(ref["online_ads"])
    assert page.count == 57
    (ad,) = page.items
    assert (ad.id, ad.user_id, ad.nickname) == ("1990011223344556677", "70010001", "FastSwap")
    assert ad.side is Side.SELL
    exact(ad.price, "81.30")
    exact(ad.last_quantity, "3200.1234")
    exact(ad.min_amount, "500")
    exact(ad.max_amount, "260000")
    assert ad.payment_types == ["582", "14"]
    assert ad.recent_order_count == 1312
    exact(ad.recent_execute_rate, "99")
    assert ad.is_online is True


def test_payment_methods(ref: dict[str, Any]) -> None:
    balance, bank = parse.parse_payment_terms(ref["payment_methods"])
    assert (balance.id, balance.payment_type, balance.name, balance.online) == (
        "-1",
        377,
        "Balance",
        True,
    )
    assert (bank.id, bank.payment_type, bank.name) == ("9120044", 14, "Bank Transfer")
    assert bank.bank_name == "T-Bank"
    assert bank.account_no == "40817810000000000001"
    assert bank.online is False


def test_chat_session_list(ref: dict[str, Any]) -> None:
    (session,) = parse.parse_chat_sessions(ref["chat_session_list"])
    assert session.session_id == "q2VvY3JpcHQ+U2Vzc2lvbi1BQkMxMjM="
    assert session.name == "anna_k"
    assert session.id == "1994300000000000001"  # the cursor for the next page
    assert session.unread_count == 0  # the old list has no counter: nothing claimed


def test_session_messages_decode_json_string(ref: dict[str, Any]) -> None:
    text, picture = parse.parse_session_messages(ref["session_messages"])
    assert text.id == "3004511300"
    assert text.text == "sent 4072.50 via SBP"
    assert text.msg_type == 301
    assert text.sender_nickname == "anna_k"
    assert text.role is ChatRole.USER
    assert text.order_id == ""  # session rows name no order
    assert text.api is ChatApi.SESSION
    assert text.created_at == utc(2025, 11, 24, 16, 6, 40, 123000)
    assert picture.content_type == "pic"
    assert picture.msg_type == 302
    assert picture.file_name == "receipt.png"
    assert picture.text.endswith("receipt.png?e=1764259600&token=abc=")


# ---- envelopes and number shapes --------------------------------------------------


def test_v5_envelope_parses_like_p2p_envelope(ref: dict[str, Any]) -> None:
    p2p = ref["orders"]
    v5 = {"retCode": 0, "retMsg": "OK", "result": p2p["result"], "retExtInfo": {}, "time": 1}
    assert parse.parse_order_page(v5) == parse.parse_order_page(p2p)


def test_numeric_strings_and_ints_are_the_same(ref: dict[str, Any]) -> None:
    item = ref["orders"]["result"]["items"][0]
    item.update(side="1", status="20", amount=8145, price=81.45, transferLastSeconds=12)
    (order,) = parse.parse_order_page(ref["orders"]).items
    assert order.side is Side.SELL
    assert order.status is OrderStatus.PAID
    exact(order.amount, "8145")
    exact(order.price, "81.45")  # a float goes through repr, not its binary value
    assert order.transfer_seconds_left == 12
    ref["orders"]["result"]["count"] = "42"
    assert parse.parse_order_page(ref["orders"]).count == 42


@pytest.mark.parametrize("bad", [True, "NaN", "Infinity", float("nan"), float("inf"), "1,5", []])
def test_bad_money_is_malformed(ref: dict[str, Any], bad: object) -> None:
    ref["orders"]["result"]["items"][0]["amount"] = bad
    with pytest.raises(MalformedResponse) as caught:
        parse.order_summary(Reader(ref["orders"]["result"]["items"][0], paths.ORDERS, "row"))
    assert "row.amount" in str(caught.value)
    assert paths.ORDERS in str(caught.value)
    # On a page the bad row is set aside, named, and the page still reads.
    page = parse.parse_order_page(ref["orders"])
    assert page.items == [] and page.rows == 1
    assert "result.items[0].amount" in page.unreadable[0]


def test_unknown_status_code_is_malformed(ref: dict[str, Any]) -> None:
    ref["order_detail"]["result"]["status"] = 999
    with pytest.raises(MalformedResponse) as caught:
        parse.parse_order_detail(ref["order_detail"])
    assert "result.status" in str(caught.value)
    assert "999" in str(caught.value)
    assert caught.value.endpoint == paths.ORDER_DETAIL


@pytest.mark.parametrize("field", ["id", "side", "status", "amount", "price", "createDate"])
def test_missing_required_field_is_malformed(ref: dict[str, Any], field: str) -> None:
    ref["orders"]["result"]["items"].append(copy.deepcopy(ref["orders"]["result"]["items"][0]))
    ref["orders"]["result"]["items"][1]["id"] = "second"
    del ref["orders"]["result"]["items"][0][field]
    page = parse.parse_order_page(ref["orders"])
    assert [order.id for order in page.items] == ["second"]
    (problem,) = page.unreadable
    assert f"items[0].{field} is missing" in problem


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "SUCCESS",
        {"ret_msg": "SUCCESS", "result": {}},
        {"ret_code": 0, "ret_msg": "SUCCESS"},
        {"ret_code": 0, "result": {"items": []}},
        {"ret_code": 0, "result": {"count": 1, "items": {"id": "1"}}},
        {"ret_code": 0, "result": {"count": 1, "items": ["1"]}},
        {"ret_code": 0, "result": {"count": "many", "items": []}},
        {"ret_code": 10001, "ret_msg": "oops", "result": {}},
    ],
)
def test_wrong_shapes_are_malformed(payload: object) -> None:
    with pytest.raises(MalformedResponse):
        parse.parse_order_page(payload)


def test_unset_times_are_none(ref: dict[str, Any]) -> None:
    detail = ref["order_detail"]["result"]
    for unset in ("0", "", None, 0):
        detail["transferDate"] = unset
        assert parse.parse_order_detail(ref["order_detail"]).paid_at is None
    detail["transferDate"] = "-5"
    with pytest.raises(MalformedResponse, match="transferDate"):
        parse.parse_order_detail(ref["order_detail"])


def test_confirmed_payment_fallbacks(ref: dict[str, Any]) -> None:
    detail = ref["order_detail"]["result"]
    detail["confirmedPayTerm"] = {"id": "", "paymentType": 0, "realName": ""}
    detail["paymentTermResult"] = {"id": "777", "paymentType": 14, "realName": "X"}
    chosen = parse.parse_order_detail(ref["order_detail"]).confirmed_payment
    assert chosen is not None and (chosen.id, chosen.payment_type) == ("777", 14)

    del detail["paymentTermResult"]
    chosen = parse.parse_order_detail(ref["order_detail"]).confirmed_payment
    assert chosen is not None and chosen.id == "9120044"  # listed term of type 582

    detail["paymentType"] = 0
    assert parse.parse_order_detail(ref["order_detail"]).confirmed_payment is None

    detail["paymentType"] = 14  # a type no listed method has: nothing says which one
    assert parse.parse_order_detail(ref["order_detail"]).confirmed_payment is None


def test_chat_bare_array_and_roles(ref: dict[str, Any]) -> None:
    rows = ref["chat_messages"]["result"]["result"]
    rows[0]["roleType"] = "customer_support"
    rows[1]["roleType"] = "alarm"
    bare = {"ret_code": 0, "ret_msg": "SUCCESS", "result": rows}
    support, alarm = parse.parse_chat_messages(bare)
    assert (support.role, alarm.role) == (ChatRole.SUPPORT, ChatRole.ALARM)
    rows[0]["roleType"] = "robot"
    assert parse.parse_chat_messages(bare)[0].role is ChatRole.UNKNOWN
    empty = {"ret_code": 0, "ret_msg": "", "result": None}
    assert parse.parse_chat_messages(empty) == []


def test_session_chat_system_plain_text_and_bad_json(ref: dict[str, Any]) -> None:
    rows = ref["session_messages"]["result"]["messages"]
    rows[0]["sendUserNickName"] = "SYSTEM"
    rows[1]["message"] = "plain words"
    system, plain = parse.parse_session_messages(ref["session_messages"], order_id="42")
    assert system.role is ChatRole.SYSTEM
    assert system.order_id == "42"
    assert plain.text == "plain words"
    assert plain.msg_type == 0
    rows[1]["message"] = '{"content": "cut off'
    with pytest.raises(MalformedResponse, match=r"messages\[1\]\.message"):
        parse.parse_session_messages(ref["session_messages"])


def test_unknown_ad_enum_is_malformed(ref: dict[str, Any]) -> None:
    ref["ad_detail"]["result"]["priceType"] = 7
    with pytest.raises(MalformedResponse, match="priceType"):
        parse.parse_ad(ref["ad_detail"])


def test_payment_list_must_be_a_list(ref: dict[str, Any]) -> None:
    ref["payment_methods"]["result"] = {"id": "-1"}
    with pytest.raises(MalformedResponse, match="expected a list"):
        parse.parse_payment_terms(ref["payment_methods"])
