"""The chat job and both chat APIs, against the simulator over HTTP, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from p2pilot.chat.channel import ChatChannel, ChatTarget
from p2pilot.exchange.client import ExchangeClient
from p2pilot.records import ChatApi
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import AccountRow, ChatMessageRow, OrderEventRow

from .chatdesk import (
    ANSWER_PAID,
    KEY,
    ORDER_LIST,
    ORDER_SEND,
    SECRET,
    SESSION_LIST,
    SESSION_SEND,
    calls,
    chat_desk,
    last_seq,
)
from .simdesk import control, request_log, running_simulator


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def started(db_url: str, sim: SimulatorServer, *, chat_api: str = "auto") -> Daemon:
    return chat_desk(db_url, sim, [ANSWER_PAID], api=chat_api)


def stored_chat(daemon: Daemon) -> list[tuple[str | None, str, str]]:
    with daemon.store.transaction(read_only=True) as session:
        rows = session.execute(
            select(ChatMessageRow.order_id, ChatMessageRow.role, ChatMessageRow.text).order_by(
                ChatMessageRow.id
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def chat_events(daemon: Daemon) -> list[dict[str, Any]]:
    with daemon.store.transaction(read_only=True) as session:
        rows = session.scalars(
            select(OrderEventRow.payload)
            .where(OrderEventRow.type == "chat.message")
            .order_by(OrderEventRow.id)
        )
        return list(rows)


def test_messages_are_stored_once_and_only_the_buyers_become_events(
    sim: SimulatorServer, db_url: str
) -> None:
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    for n in range(33):  # more than one page of 30
        control(sim, f"orders/{order_id}/messages", text=f"note {n}")
    daemon = started(db_url, sim)
    assert daemon.run_once() == 0
    control(sim, f"orders/{order_id}/pay")  # a system notice joins the chat
    control(sim, f"orders/{order_id}/messages", text="I have paid")
    for _ in range(3):
        assert daemon.run_once() == 0
    daemon.close()

    restarted = started(db_url, sim)
    control(sim, f"orders/{order_id}/messages", text="hello?")  # read with what came before
    assert restarted.run_once() == 0
    restarted.close()

    chat = stored_chat(restarted)
    texts = [text for _, _, text in chat]
    # 33 notes, "I have paid", "hello?", the created and paid notices, and our reply:
    # each stored once although pages and the restart brought some back.
    assert len(texts) == len(set(texts)) == 33 + 2 + 2 + 1
    assert {order for order, _, _ in chat} == {order_id}
    events = chat_events(restarted)
    # Only the buyer's words: not the system notices, not our own reply.
    assert [e["text"] for e in events] == [f"note {n}" for n in range(33)] + [
        "I have paid",
        "hello?",
    ]
    assert all(e["order_id"] == order_id and e["sender"] for e in events)
    sends = calls(sim, ORDER_SEND)
    assert [s["body"]["message"] for s in sends] == [
        "Thanks " + events[0]["counterparty"] + ", checking the payment now."
    ]


def test_an_idle_desk_makes_no_chat_calls(sim: SimulatorServer, db_url: str) -> None:
    quiet = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    daemon = started(db_url, sim)
    for _ in range(5):
        assert daemon.run_once() == 0
    # Nothing unread on an open order: no look at its chat, but for the one probe
    # an auto-mode desk makes (every 10 minutes) to learn whether per-order chat
    # still answers.
    assert len(calls(sim, ORDER_LIST)) == 1
    mark = last_seq(sim)

    control(sim, f"orders/{quiet}/messages", text="hello?")
    assert daemon.run_once() == 0  # the orders job sees the unread counter ...
    assert daemon.run_once() == 0
    daemon.close()
    assert len(calls(sim, ORDER_LIST, since=mark)) == 1  # ... and the chat is read once
    assert [e["text"] for e in chat_events(daemon)] == ["hello?"]


def test_closed_order_chat_switches_to_sessions_for_good(sim: SimulatorServer, db_url: str) -> None:
    first = control(
        sim, "orders", side="sell", amount="500.00", price="81.00", counterparty="oleg_s"
    )["id"]
    daemon = started(db_url, sim)
    assert daemon.run_once() == 0
    control(sim, "chat/order_api", open=False)  # Bybit shuts per-order chat: 912200387
    second = control(
        sim, "orders", side="sell", amount="700.00", price="81.00", counterparty="oleg_s"
    )["id"]
    control(sim, f"orders/{second}/messages", text="paid for the second one")
    for _ in range(3):
        assert daemon.run_once() == 0
    daemon.close()

    with daemon.store.transaction(read_only=True) as session:
        assert session.scalar(select(AccountRow.chat_api)) == "session"
    # The buyer's message names no order on session chat: attributed to the second.
    (event,) = chat_events(daemon)
    assert event["order_id"] == second and event["api"] == "session"
    (sent,) = calls(sim, SESSION_SEND)
    assert sent["body"]["orderId"] == second and "oleg_s" in sent["body"]["message"]

    mark = last_seq(sim)
    restarted = started(db_url, sim)
    control(sim, f"orders/{first}/messages", text="and the first?")
    for _ in range(2):
        assert restarted.run_once() == 0
    restarted.close()
    assert calls(sim, ORDER_LIST, since=mark) == []  # never tries the closed API again
    with restarted.store.transaction(read_only=True) as session:
        owners = dict(session.execute(select(ChatMessageRow.text, ChatMessageRow.order_id)).all())
        count = session.scalar(select(func.count()).select_from(ChatMessageRow))
    assert owners["paid for the second one"] == second
    assert owners["and the first?"] == second  # the latest order with this buyer
    # Two "created" notices, two buyer messages, our reply: each stored once, though
    # several reads of the one session brought them back.
    assert count == 5


def test_forced_order_api_does_not_switch(sim: SimulatorServer, db_url: str) -> None:
    order_id = control(sim, "orders", side="sell", amount="500.00", price="81.00")["id"]
    control(sim, "chat/order_api", open=False)
    control(sim, f"orders/{order_id}/messages", text="paid")
    daemon = started(db_url, sim, chat_api="order")
    daemon.run_once()
    daemon.close()
    assert calls(sim, SESSION_LIST) == [] and chat_events(daemon) == []
    with daemon.store.transaction(read_only=True) as session:
        assert session.scalar(select(AccountRow.chat_api)) is None


def test_session_chat_reaches_an_order_known_only_from_its_list_row(
    sim: SimulatorServer,
) -> None:
    # An order whose detail read failed is stored from its list row, which names no
    # counterparty mask id: the greeting must not wait for the next detail read.
    order_id = control(
        sim, "orders", side="sell", amount="500.00", price="81.00", counterparty="irina_k"
    )["id"]
    client = ExchangeClient(account="desk", api_key=KEY, api_secret=SECRET, base_url=sim.url)
    channel = ChatChannel(client, account="desk", mode="session")
    target = ChatTarget(order_id, counterparty_mask_id="", counterparty_nickname="irina_k")

    assert channel.send(target, text="Hello, irina_k", msg_uuid="greet-1") is ChatApi.SESSION

    paths = [e["path"] for e in request_log(sim)]
    assert paths[-3:] == ["/v5/p2p/order/info", "/v5/p2p/chat/session/getSessionId", SESSION_SEND]
    (sent,) = calls(sim, SESSION_SEND)
    assert sent["body"]["orderId"] == order_id and sent["body"]["message"] == "Hello, irina_k"
