"""The bot's alerts: text, buttons and callback data (Telegram's 64-byte limit)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from p2pilot.store.events import EventRecord
from p2pilot.telegram.handlers import TelegramUser
from p2pilot.telegram.render import parse_callback, render

ORDER = "1987654321098765432"  # Bybit's ids: 19 digits
PAYLOAD = {
    "account": "desk",
    "order_id": ORDER,
    "amount": "5000.00",
    "currency": "RUB",
    "quantity": "61.72",
    "token": "USDT",
    "counterparty": "anna_k",
}


def event(kind: str, payload: dict[str, Any], order_pk: int | None = 7) -> EventRecord:
    return EventRecord(3, 1, order_pk, kind, payload, datetime.now(UTC), None)


def data_of(kind: str, payload: dict[str, Any], order_pk: int | None = 7) -> list[str]:
    alert = render(event(kind, payload, order_pk))
    return [data for row in alert.buttons for _label, data in row]


def test_release_pending_carries_approve_hold_and_chat() -> None:
    alert = render(event("order.release_pending", PAYLOAD))
    assert alert.subject == "order:7"
    assert "5000.00 RUB" in alert.text and "anna_k" in alert.text
    assert data_of("order.release_pending", PAYLOAD) == [f"a:{ORDER}", f"h:{ORDER}", f"c:{ORDER}"]
    assert data_of("order.paid_unconfirmed", PAYLOAD) == [f"p:{ORDER}", f"c:{ORDER}"]


def test_unmatched_payment_offers_its_suggested_orders_and_ignore() -> None:
    payload = {
        "reason": "ambiguous",
        "orders": [ORDER, "1987654321098765433"],
        "payment": {"id": 12, "amount": "5000.00", "currency": "RUB", "payer_name": "A K"},
    }
    data = data_of("payment.unmatched", payload, order_pk=None)
    assert data == [f"t:12:{ORDER}", "t:12:1987654321098765433", "i:12"]
    assert render(event("payment.unmatched", payload, None)).subject == "event:3"
    assert all(len(d.encode()) <= 64 for d in data)  # Telegram's limit


def test_other_alerts_have_no_buttons() -> None:
    alert = render(event("daemon.alert", {"account": "desk", "message": "ip ban"}, None))
    assert alert.buttons == [] and "ip ban" in alert.text


@pytest.mark.parametrize(
    ("data", "parsed"),
    [
        (f"a:{ORDER}", ("a", [ORDER])),
        ("t:12:34", ("t", ["12", "34"])),
        ("a:", None),
        ("x:1", None),
        ("t:12", None),
        ("a:1:2", None),
        ("", None),
    ],
)
def test_callback_data_is_parsed_strictly(data: str, parsed: object) -> None:
    assert parse_callback(data) == parsed


def test_the_operator_is_the_telegram_user() -> None:
    assert TelegramUser(77, "alice").operator().name == "tg:@alice"
    assert TelegramUser(88, None).operator().name == "tg:88"
    assert TelegramUser(88, None).operator().source == "telegram"
