"""Bybit moving its chat API under a running desk, against the simulator, on both backends.

Per-order chat is being removed and nobody knows what the removed routes will
answer; session messages may not raise the order list's unread counter;
``listpage_v1`` may answer nothing when ``lastId`` is sent; order detail may not
name the counterparty's ``targetUserMaskId``. The desk must keep greeting and
answering through all of it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy import select

from p2pilot.chat.channel import ChatChannel, ChatTarget
from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import Rejected, RouteNotFound
from p2pilot.records import ChatApi
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import AccountRow, ChatMessageRow

from .chatdesk import (
    ANSWER_PAID,
    KEY,
    ORDER_LIST,
    ORDER_SEND,
    SECRET,
    SESSION_LIST,
    SESSION_SEND,
    SESSIONS,
    calls,
    last_seq,
)
from .chatdesk import chat_desk as desk
from .simdesk import control, order_truth, running_simulator

GREET = {
    "name": "greet",
    "on": "order.created",
    "reply": "Hi {order.counterparty}, please pay {order.amount} {order.currency}.",
}
# Every shape of Bybit's move the reference fears, at once.
MOVED = {
    "session_messages_on_order_list": False,
    "listpage_v1_empty_with_last_id": True,
}


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def sent_texts(sim: SimulatorServer) -> list[tuple[str, str]]:
    return [(e["body"]["orderId"], e["body"]["message"]) for e in calls(sim, SESSION_SEND)]


@pytest.mark.parametrize("answer", ["http_404", "912200387", "unknown_code"])
def test_desk_greets_and_answers_after_per_order_chat_is_removed(
    sim: SimulatorServer, db_url: str, answer: str
) -> None:
    control(sim, "chat", order_api=answer, **MOVED)
    daemon = desk(db_url, sim, [GREET, ANSWER_PAID])
    order_id = control(
        sim, "orders", side="sell", amount="500.00", price="81.00", counterparty="vera_p"
    )["id"]
    with structlog.testing.capture_logs() as logs:
        assert daemon.run_once() == 0
    # The greeting met the removed route, switched the account, and went out by session.
    assert sent_texts(sim) == [(order_id, "Hi vera_p, please pay 500.00 RUB.")]
    (switch,) = [e for e in logs if e["event"] == "chat.switched_to_session"]
    expected = {"http_404": "HTTP 404", "912200387": "912200387", "unknown_code": "912200999"}
    assert expected[answer] in switch["reason"]

    control(sim, f"orders/{order_id}/messages", text="I have paid")
    # The order list's counter did not move: only list_v1 knows.
    assert order_truth(sim, order_id)["unreadMsgCount"] == "0"
    ticks = 0
    while len(sent_texts(sim)) < 2 and ticks < 2:
        assert daemon.run_once() == 0
        ticks += 1
    daemon.close()
    assert sent_texts(sim)[1:] == [(order_id, "Thanks vera_p, checking the payment now.")]
    # lastId went only with a page further back (never here): listpage_v1 would be empty.
    assert all("lastId" not in e["body"] for e in calls(sim, SESSION_LIST))
    with daemon.store.transaction(read_only=True) as session:
        assert session.scalar(select(AccountRow.chat_api)) == "session"


def test_a_desk_without_greetings_finds_out_by_itself(sim: SimulatorServer, db_url: str) -> None:
    # No greeting rule: nothing is sent, so nothing meets the removed send route; the
    # buyer's session message does not raise the order list's counter. Today this
    # desk never reads a chat again: silent.
    control(sim, "chat", order_api="http_404", **MOVED)
    daemon = desk(db_url, sim, [ANSWER_PAID])
    order_id = control(
        sim, "orders", side="sell", amount="700.00", price="81.00", counterparty="gleb_r"
    )["id"]
    assert daemon.run_once() == 0
    control(sim, f"orders/{order_id}/messages", text="paid, check please")
    for _ in range(2):
        assert daemon.run_once() == 0
    daemon.close()
    assert sent_texts(sim) == [(order_id, "Thanks gleb_r, checking the payment now.")]


def test_an_order_without_a_mask_id_finds_its_session_by_nickname(
    sim: SimulatorServer, db_url: str
) -> None:
    control(sim, "chat", order_api="http_404", detail_mask_id=False, **MOVED)
    daemon = desk(db_url, sim, [GREET, ANSWER_PAID])
    order_id = control(
        sim, "orders", side="sell", amount="900.00", price="81.00", counterparty="nika_z"
    )["id"]
    with structlog.testing.capture_logs() as logs:
        assert daemon.run_once() == 0
    assert sent_texts(sim) == [(order_id, "Hi nika_z, please pay 900.00 RUB.")]
    (found,) = [e for e in logs if e["event"] == "chat.session_by_nickname"]
    assert found["order_id"] == order_id and found["counterparty"] == "nika_z"
    assert "targetUserMaskId" in found["reason"] and "nickname" in found["reason"]

    control(sim, f"orders/{order_id}/messages", text="paid")
    for _ in range(2):
        assert daemon.run_once() == 0
    daemon.close()
    assert sent_texts(sim)[1:] == [(order_id, "Thanks nika_z, checking the payment now.")]
    with daemon.store.transaction(read_only=True) as session:
        owners = dict(session.execute(select(ChatMessageRow.text, ChatMessageRow.order_id)).all())
    assert owners["paid"] == order_id


def test_session_chat_keeps_an_idle_desk_to_one_sessions_call_a_tick(
    sim: SimulatorServer, db_url: str
) -> None:
    control(sim, "chat", order_api="http_404", **MOVED)
    daemon = desk(db_url, sim, [], api="session")
    for _ in range(3):
        assert daemon.run_once() == 0
    # Nothing watched: no chat call at all.
    assert calls(sim, SESSIONS) == []
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    assert daemon.run_once() == 0
    mark = last_seq(sim)
    for _ in range(5):
        assert daemon.run_once() == 0
    # An open order, nothing unread: one list_v1 a chat tick, no chat read.
    assert len(calls(sim, SESSIONS, since=mark)) == 5
    assert calls(sim, SESSION_LIST, since=mark) == []
    assert calls(sim, ORDER_LIST) == calls(sim, ORDER_SEND) == []

    # Finished and lingering: list_v1 at most once a minute (these ticks take seconds).
    control(sim, f"orders/{order_id}/cancel")
    assert daemon.run_once() == 0
    mark = last_seq(sim)
    for _ in range(5):
        assert daemon.run_once() == 0
    daemon.close()
    assert len(calls(sim, SESSIONS, since=mark)) <= 1


def test_forced_order_mode_does_not_switch_on_404(sim: SimulatorServer) -> None:
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    control(sim, "chat", order_api="http_404")
    client = ExchangeClient(account="desk", api_key=KEY, api_secret=SECRET, base_url=sim.url)
    target = ChatTarget(order_id, counterparty_mask_id="", counterparty_nickname="")
    forced = ChatChannel(client, account="desk", mode="order")
    with pytest.raises(RouteNotFound):
        forced.send(target, text="hi", msg_uuid="u-1")
    assert forced.api is ChatApi.ORDER
    # A documented refusal (10001, a parameter error) is this request's problem, not a move.
    control(sim, "chat", order_api="open")
    auto = ChatChannel(client, account="desk", mode="auto")
    with pytest.raises(Rejected) as refused:
        auto.send(target, text="hi", msg_uuid="u-2", content_type="sticker")
    assert refused.value.code == 10001
    assert auto.api is ChatApi.ORDER
    assert auto.send(target, text="hi", msg_uuid="u-3") is ChatApi.ORDER
