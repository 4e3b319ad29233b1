"""The exchange port's contract, held against both of its transports.

Every call the jobs and rules make, through ``ExchangeClient`` over pybit and real
HTTP to the simulator, and through the simulator's in-process transport (the
in-memory exchange): the same records, the same request bodies, the same errors.
The HTTP-only behaviour (signatures, faults, timeouts, headers) is
``tests/integration/test_client.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from p2pilot.exchange.client import CallInfo, ExchangeClient
from p2pilot.exchange.errors import Rejected, RouteNotFound
from p2pilot.exchange.requests import (
    CHAT_MESSAGES,
    CREATE_AD,
    MARK_PAID,
    MY_ADS,
    ONLINE_ADS,
    ORDERS,
    PENDING_ORDERS,
    RELEASE,
    AdParams,
)
from p2pilot.records import (
    ChatApi,
    OrderStatus,
    PriceType,
    Side,
    TradingPreferences,
)
from p2pilot.simulator.inprocess import InProcessTransport
from p2pilot.simulator.server import SimulatorServer

from ..simclient import KEY, PNG, bodies, control, http_client, new_order, simulator


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    # The control API drives the desk over HTTP for both transports.
    with simulator(enforce_limits=False) as server:
        yield server


@pytest.fixture
def calls() -> list[CallInfo]:
    return []


@pytest.fixture(params=["pybit", "inprocess"])
def client(
    request: pytest.FixtureRequest, sim: SimulatorServer, calls: list[CallInfo]
) -> ExchangeClient:
    """The client over pybit and HTTP, or over the in-process transport."""
    if request.param == "pybit":
        return http_client(sim, calls)
    return ExchangeClient(
        account="main", transport=InProcessTransport(sim.sim, KEY), on_call=calls.append
    )


def test_account_and_payment_methods(client: ExchangeClient, calls: list[CallInfo]) -> None:
    me = client.account_info()
    assert me.user_id and me.nickname
    methods = client.payment_methods()
    assert methods and all(m.id and m.payment_type for m in methods)
    assert [(c.endpoint, c.kind, c.outcome) for c in calls] == [
        ("/v5/p2p/user/personal/info", "read", "ok"),
        ("/v5/p2p/user/payment/list", "read", "ok"),
    ]


def test_sell_order_lifecycle(sim: SimulatorServer, client: ExchangeClient) -> None:
    order_id = new_order(sim)
    pending = client.pending_orders(page=1, size=30)
    summary = next(o for o in pending.items if o.id == order_id)
    assert summary.side is Side.SELL
    assert summary.status is OrderStatus.AWAITING_PAYMENT
    assert summary.amount == Decimal("8145.00")
    assert pending.count >= 1

    control(sim, "POST", f"orders/{order_id}/pay")
    detail = client.order_detail(order_id)
    assert detail.status is OrderStatus.PAID
    assert detail.amount == Decimal("8145.00") and detail.price == Decimal("81.45")
    assert detail.created_at.tzinfo is not None

    profile = client.counterparty_info(user_id=detail.counterparty_user_id, order_id=order_id)
    assert profile.nickname == detail.counterparty_nickname

    client.release(order_id)
    assert client.order_detail(order_id).status is OrderStatus.COMPLETED
    done = client.orders(page=1, size=10, status=OrderStatus.COMPLETED)
    assert order_id in {o.id for o in done.items}

    (pending_body,) = bodies(sim, PENDING_ORDERS)
    assert pending_body == {"page": 1, "size": 30}
    (orders_body,) = bodies(sim, ORDERS)
    assert orders_body == {"page": 1, "size": 10, "status": 50}
    assert bodies(sim, RELEASE) == [{"orderId": order_id}]


def test_orders_time_range_is_sent_as_ms_strings(
    sim: SimulatorServer, client: ExchangeClient
) -> None:
    begin = datetime(2026, 11, 1, tzinfo=UTC)
    client.orders(begin=begin, end=begin + timedelta(days=1))
    (body,) = bodies(sim, ORDERS)
    assert body["beginTime"] == "1793491200000" and body["endTime"] == "1793577600000"


def test_mark_paid_on_a_buy_order(sim: SimulatorServer, client: ExchangeClient) -> None:
    order_id = new_order(sim, side="buy")
    detail = client.order_detail(order_id)
    assert detail.side is Side.BUY
    term = next(t for t in detail.payment_terms if t.payment_type != 377)
    client.mark_paid(order_id=order_id, payment_type=term.payment_type, payment_id=term.id)
    assert client.order_detail(order_id).status is OrderStatus.PAID
    assert bodies(sim, MARK_PAID) == [
        {"orderId": order_id, "paymentType": str(term.payment_type), "paymentId": term.id}
    ]


def test_order_chat(sim: SimulatorServer, client: ExchangeClient) -> None:
    order_id = new_order(sim)
    control(sim, "POST", f"orders/{order_id}/messages", {"text": "paid, check please"})
    client.send_chat_message(order_id=order_id, text="Привет", msg_uuid="uuid-1")
    messages = client.chat_messages(order_id, page=1, size=30)
    texts = {m.text: m for m in messages}
    assert texts["paid, check please"].sender_user_id != client.account_info().user_id
    mine = texts["Привет"]
    assert mine.msg_uuid == "uuid-1" and mine.api is ChatApi.ORDER and mine.order_id == order_id
    (body,) = bodies(sim, CHAT_MESSAGES)
    assert body == {"orderId": order_id, "size": "30", "currentPage": "1"}


def test_upload_and_session_chat(sim: SimulatorServer, client: ExchangeClient) -> None:
    uploaded = client.upload_chat_file(data=PNG, filename="receipt.png")
    assert uploaded.url.startswith("/")

    order_id = new_order(sim)
    detail = client.order_detail(order_id)
    session_id = client.chat_session_id(detail.counterparty_mask_id)
    assert session_id
    client.send_session_message(order_id=order_id, session_id=session_id, text="hello there")
    messages = client.session_messages(session_id, limit=30)
    sent = next(m for m in messages if m.text == "hello there")
    assert sent.api is ChatApi.SESSION
    assert sent.order_id in ("", order_id)


def ad_params(client: ExchangeClient, **changes: Any) -> AdParams:
    method = next(m for m in client.payment_methods() if m.id != "-1")
    values: dict[str, Any] = {
        "token": "USDT",
        "currency": "RUB",
        "side": Side.SELL,
        "price_type": PriceType.FIXED,
        "price": Decimal("81.45"),
        "quantity": Decimal("500"),
        "min_amount": Decimal("1000"),
        "max_amount": Decimal("40000"),
        "payment_ids": (method.id,),
        "payment_period": 15,
        "remark": "p2pilot test ad",
        "trading_preferences": TradingPreferences(is_kyc=True),
    }
    values.update(changes)
    return AdParams(**values)


def test_ads_create_update_remove(sim: SimulatorServer, client: ExchangeClient) -> None:
    params = ad_params(client)
    ad_id = client.create_ad(params)
    ad = client.ad_detail(ad_id)
    assert (ad.price, ad.side, ad.token, ad.currency) == (
        Decimal("81.45"),
        Side.SELL,
        "USDT",
        "RUB",
    )
    assert ad_id in {a.id for a in client.my_ads(token="USDT", currency="RUB").items}

    client.update_ad(ad_id, dataclasses.replace(AdParams.from_ad(ad), price=Decimal("82.10")))
    assert client.ad_detail(ad_id).price == Decimal("82.10")

    client.remove_ad(ad_id)
    assert ad_id not in {a.id for a in client.my_ads().items}

    (create_body,) = bodies(sim, CREATE_AD)
    assert create_body["paymentIds"] == list(params.payment_ids)
    assert create_body["price"] == "81.45" and create_body["quantity"] == "500"
    assert all(type(v) is str for v in create_body["tradingPreferenceSet"].values())
    assert bodies(sim, MY_ADS)[0] == {
        "page": "1",
        "size": "30",
        "tokenId": "USDT",
        "currencyId": "RUB",
    }


def test_online_ads_send_strings(sim: SimulatorServer, client: ExchangeClient) -> None:
    page = client.online_ads(token="USDT", currency="RUB", side=Side.SELL, page=1, size=50)
    assert page.count >= len(page.items)
    assert all(ad.side is Side.SELL for ad in page.items)
    (body,) = bodies(sim, ONLINE_ADS)
    assert body == {"tokenId": "USDT", "currencyId": "RUB", "side": "1", "page": "1", "size": "50"}


def test_refusals_are_the_same_errors(sim: SimulatorServer, client: ExchangeClient) -> None:
    order_id = new_order(sim)
    with pytest.raises(Rejected) as unpaid:
        client.release(order_id)  # not paid yet: the exchange refuses by code
    assert unpaid.value.code == 912100011
    with pytest.raises(Rejected) as unknown:
        client.order_detail("1999999999999999999")
    assert unknown.value.code == 912100010
    control(sim, "POST", "chat/order_api", {"open": False, "answer": "http_404"})
    with pytest.raises(RouteNotFound):
        client.chat_messages(order_id)
