"""The Telegram bot against a local Bot API (tests/integration/botapi.py) and the simulator.

The daemon runs in-process in approve mode (as in test_approvals.py); the bot
runs in its own thread, as ``run`` starts it, and every tap goes through the
operator-command layer. The simulator's request log witnesses each release.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from p2pilot.clocks import utc_now
from p2pilot.evidence.reminders import remind_unconfirmed
from p2pilot.operator import Operator, OperatorCommands
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store import accounts as stored_accounts
from p2pilot.store import telegram as stored
from p2pilot.store.events import append_event
from p2pilot.store.models import AuditRow, OrderEventRow
from p2pilot.telegram import TelegramBot, build_bot

from ..e2e.conftest import wait_for
from ..evidence import report_payment
from .botapi import BotApi, bot_api
from .simdesk import control, in_process, running_simulator, took_effect
from .test_approvals import APPROVE, RELEASE, released
from .test_rules import KEY, SECRET, SEND, confirm, make_config, run_daemon

TOKEN = "123456:TEST-bot-token-not-a-real-one"
CHAT = 5001
STRANGER = 6666
ALICE = (77, "alice")
BOB = (88, None)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


@pytest.fixture
def api() -> Iterator[BotApi]:
    with bot_api(TOKEN) as server:
        yield server


def desk(db_url: str, sim: SimulatorServer, api: BotApi, **safety: Any) -> Daemon:
    config = make_config(
        db_url,
        sim,
        rules=[RELEASE],
        safety={**APPROVE, **safety},
        telegram={"bot_token": TOKEN, "chats": [CHAT], "api_url": api.url},
    )
    return run_daemon(config, sim)


def start_bot(daemon: Daemon, sim: SimulatorServer) -> TelegramBot:
    bot = build_bot(
        daemon.config, daemon.store, utc_now, poll_timeout=1, client_factory=in_process(sim)
    )
    bot.start()
    return bot


@contextmanager
def telegram_desk(
    db_url: str, sim: SimulatorServer, api: BotApi, **safety: Any
) -> Iterator[Daemon]:
    """The desk with its bot polling, as ``run`` starts them; both stopped at the end."""
    daemon = desk(db_url, sim, api, **safety)
    bot = start_bot(daemon, sim)
    try:
        yield daemon
    finally:
        bot.stop()
        daemon.close()


@pytest.fixture
def daemon(sim: SimulatorServer, api: BotApi, db_url: str) -> Iterator[Daemon]:
    with telegram_desk(db_url, sim, api) as running:
        yield running


def paid_order(daemon: Daemon, sim: SimulatorServer, amount: str = "5000.00") -> str:
    order_id = str(control(sim, "orders", side="sell", amount=amount, price="81.00")["id"])
    control(sim, f"orders/{order_id}/pay")
    assert daemon.run_once() == 0
    return order_id


def confirmed_from_phone(daemon: Daemon, sim: SimulatorServer, api: BotApi) -> str:
    """A paid order whose payment the operator confirmed from the phone; its release waits."""
    order_id = paid_order(daemon, sim)
    assert tap(api, ALICE, f"p:{order_id}").startswith("payment recorded")
    assert daemon.run_once() == 0
    return order_id


def tap(api: BotApi, user: tuple[int, str | None], data: str, chat: int = CHAT) -> str:
    query = api.press(chat, user[0], user[1], data)
    return str(wait_for(lambda: api.answer_to(query)))


def bot_failures(daemon: Daemon) -> int:
    with daemon.store.transaction(read_only=True) as session:
        state = stored.read_state(session)
    return state.failures if state is not None else 0


def alerted_up_to(daemon: Daemon) -> int:
    with daemon.store.transaction(read_only=True) as session:
        state = stored.read_state(session)
    return state.event_id if state is not None else -1


def newest_event(daemon: Daemon) -> int:
    with daemon.store.transaction(read_only=True) as session:
        return int(session.scalar(select(func.max(OrderEventRow.id))) or 0)


def audit_rows(daemon: Daemon) -> list[tuple[str, str, str, str]]:
    with daemon.store.transaction(read_only=True) as session:
        rows = session.scalars(select(AuditRow).order_by(AuditRow.id))
        return [(r.operator, r.source, r.command, r.outcome) for r in rows]


def test_an_approval_tapped_in_telegram_releases_once(
    sim: SimulatorServer, api: BotApi, daemon: Daemon
) -> None:
    # Confirmed by the operator from the phone: evidence, then the release waits.
    order_id = confirmed_from_phone(daemon, sim, api)
    [alert] = wait_for(lambda: api.buttons_sent(f"a:{order_id}"))
    assert int(alert["chat_id"]) == CHAT and order_id in alert["text"]
    assert "Release waiting for approval" in alert["text"]
    assert "Evidence: 5000.00 RUB" in alert["text"]  # what the operator confirmed
    assert "ok status_paid" in alert["text"]  # the guards' results

    with capture_logs() as logs:
        assert tap(api, ALICE, f"a:{order_id}", chat=STRANGER) == "refused: this chat may not act"
    refused = [e for e in logs if e["event"] == "telegram.refused"]
    assert [(e["chat_id"], e["user_id"]) for e in refused] == [(STRANGER, ALICE[0])]

    assert tap(api, ALICE, f"a:{order_id}") == "approved, waiting for the daemon"
    for _ in range(3):
        assert daemon.run_once() == 0
    assert released(sim) == [order_id]
    assert tap(api, BOB, f"a:{order_id}") == "already released"
    assert released(sim) == [order_id]
    # One message for the order, edited in place when it completed.
    wait_for(lambda: any("Completed" in e["text"] for e in api.edits))
    assert len(api.buttons_sent(f"a:{order_id}")) == 1
    assert ("tg:@alice", "telegram", "approve", "ok") in audit_rows(daemon)
    assert ("tg:88", "telegram", "approve", "ok") in audit_rows(daemon)
    assert ("tg:@alice", "telegram", "confirm-payment", "ok") in audit_rows(daemon)


def test_a_payment_reminder_is_confirmed_and_edited_in_place(
    sim: SimulatorServer, api: BotApi, daemon: Daemon
) -> None:
    order_id = paid_order(daemon, sim)
    later = datetime.now(UTC) + timedelta(minutes=10)  # the buyer paid long ago
    with daemon.store.transaction() as session:
        account_id = stored_accounts.account_ids(session)["desk"]
        assert remind_unconfirmed(session, account_id, now=later, remind_after=timedelta(minutes=5))
    [reminder] = wait_for(lambda: api.buttons_sent(f"p:{order_id}"))
    assert reminder["text"].startswith("Buyer says paid, no payment seen yet")
    assert tap(api, ALICE, f"p:{order_id}").startswith("payment recorded")
    assert daemon.run_once() == 0
    # The same message now asks for the approval: edited, not a second message.
    [edit] = wait_for(lambda: [e for e in api.edits if f"a:{order_id}" in str(e)])
    assert int(edit["message_id"]) == reminder["message_id"]
    assert edit["text"].startswith("Release waiting for approval")
    assert api.buttons_sent(f"a:{order_id}") == []


def test_a_hold_from_telegram_stops_the_release(
    sim: SimulatorServer, api: BotApi, daemon: Daemon
) -> None:
    order_id = confirmed_from_phone(daemon, sim, api)
    wait_for(lambda: api.buttons_sent(f"h:{order_id}"))
    # The buyer writes: the alert keeps its buttons, and the chat shows on a tap.
    control(sim, f"orders/{order_id}/messages", text="sent it, please release")
    assert daemon.run_once() == 0
    wait_for(lambda: alerted_up_to(daemon) == newest_event(daemon))
    assert api.edits == []
    assert tap(api, ALICE, f"c:{order_id}") == "chat below"
    wait_for(lambda: any("sent it, please release" in t for t in api.texts_to(CHAT)))
    assert tap(api, ALICE, f"h:{order_id}") == "held"
    refused = tap(api, BOB, f"a:{order_id}")
    assert refused.startswith("refused: held by tg:@alice: held from Telegram")
    for _ in range(2):
        assert daemon.run_once() == 0
    assert released(sim) == []
    wait_for(lambda: any(e["text"].startswith("Held by tg:@alice") for e in api.edits))
    api.write(CHAT, ALICE[0], ALICE[1], f"/order {order_id}")
    wait_for(lambda: any(t.startswith(f"Order {order_id}") for t in api.texts_to(CHAT)))
    api.write(STRANGER, BOB[0], BOB[1], "/resume desk")
    wait_for(lambda: "refused: this chat may not act" in api.texts_to(STRANGER))
    assert ("tg:@alice", "telegram", "hold", "ok") in audit_rows(daemon)
    assert ("tg:88", "telegram", "approve", "refused") in audit_rows(daemon)
    assert not [r for r in audit_rows(daemon) if r[2] == "resume"]


def command(api: BotApi, text: str) -> str:
    """Write a command in the allowed chat; the bot's reply."""
    before = len(replies(api))
    api.write(CHAT, ALICE[0], ALICE[1], text)
    return wait_for(lambda: replies(api)[before:])[0]  # type: ignore[no-any-return]


def replies(api: BotApi) -> list[str]:
    """What the bot wrote to the chat without buttons: not the alerts, which may interleave."""
    with api.changed:
        sent = [m for m in api.sent if int(m["chat_id"]) == CHAT and not m.get("reply_markup")]
    return [str(m["text"]) for m in sent]


def test_pause_from_telegram_stops_releases_until_resumed(
    sim: SimulatorServer, api: BotApi, daemon: Daemon
) -> None:
    order_id = confirmed_from_phone(daemon, sim, api)
    assert command(api, "/pause desk") == "paused"
    assert tap(api, BOB, f"a:{order_id}").startswith("refused: account desk paused by")
    for _ in range(2):
        assert daemon.run_once() == 0
    assert released(sim) == []
    assert "desk: paused" in command(api, "/status")
    assert command(api, "/resume desk") == "resumed"
    assert tap(api, BOB, f"a:{order_id}") == "approved, waiting for the daemon"
    for _ in range(3):
        assert daemon.run_once() == 0
    assert released(sim) == [order_id]
    assert command(api, f"/say {order_id} thank you!") == "sent"
    assert [e["body"]["message"] for e in took_effect(sim, SEND)] == ["thank you!"]
    assert ("tg:@alice", "telegram", "pause", "ok") in audit_rows(daemon)
    assert ("tg:@alice", "telegram", "say", "ok") in audit_rows(daemon)


def test_two_person_counts_a_console_user_and_a_telegram_user(
    sim: SimulatorServer, api: BotApi, db_url: str
) -> None:
    with telegram_desk(db_url, sim, api, two_person_above={"RUB": "200000"}) as daemon:
        commands = OperatorCommands(daemon.store, daemon.config)
        order_id = paid_order(daemon, sim, "250000.00")
        confirm(daemon, order_id, "250000.00")
        assert daemon.run_once() == 0
        assert commands.approve(Operator("bob", "console"), order_id).ok
        assert daemon.run_once() == 0
        assert released(sim) == []  # one operator is not enough above 200000 RUB
        # /pending lists the console's queue: the order, why it waits, who approved it.
        [queued] = commands.approval_queue()
        pending = command(api, "/pending")
        assert pending.startswith(f"{order_id} (desk) 250000.00 RUB from ")
        assert pending.endswith(f": {queued['why']}; approved by bob")
        assert tap(api, ALICE, f"a:{order_id}") == "approved, waiting for the daemon"
        for _ in range(3):
            assert daemon.run_once() == 0
        assert released(sim) == [order_id]
        assert command(api, "/pending") == "no release waits for an operator"


def test_an_unmatched_payment_is_attached_from_its_alert(
    sim: SimulatorServer, api: BotApi, daemon: Daemon
) -> None:
    first, second = paid_order(daemon, sim), paid_order(daemon, sim)
    result = report_payment(daemon.store, "5000.00", "bank-twice", account="desk")
    assert result.order_id is None and result.payment_id is not None  # which one?
    assert daemon.run_once() == 0
    data = f"t:{result.payment_id}:{first}"
    [alert] = wait_for(lambda: api.buttons_sent(data))
    assert f"t:{result.payment_id}:{second}" in str(alert["reply_markup"])
    ignore = f"i:{result.payment_id}"
    assert ignore in str(alert["reply_markup"])
    assert tap(api, BOB, ignore) == f"ignored evidence {result.payment_id} (nothing changed)"
    assert tap(api, ALICE, data) == f"evidence {result.payment_id} attached"
    assert tap(api, ALICE, data).startswith("refused:")  # it pays one order only
    assert tap(api, BOB, ignore).startswith(f"refused: evidence {result.payment_id} already")
    ignored = [row for row in audit_rows(daemon) if row[2] == "ignore"]
    assert ignored == [
        ("tg:88", "telegram", "ignore", "ok"),
        ("tg:88", "telegram", "ignore", "refused"),
    ]
    assert daemon.run_once() == 0
    wait_for(lambda: api.buttons_sent(f"a:{first}"))
    assert api.buttons_sent(f"a:{second}") == []


def test_an_outage_and_a_429_lose_no_alert_and_double_none(
    sim: SimulatorServer, api: BotApi, db_url: str
) -> None:
    daemon = desk(db_url, sim, api)
    bot = start_bot(daemon, sim)
    try:
        api.fail("sendMessage", 500, times=2)
        api.fail("sendMessage", 429, retry_after=1)
        order_id = confirmed_from_phone(daemon, sim, api)
        wait_for(lambda: api.buttons_sent(f"a:{order_id}"), timeout=20)
        tries = [c for c in api.calls if c[0] == "sendMessage" and order_id in str(c[1])]
        assert len(tries) == 4  # two 500s and a 429, then the one that went out
        with daemon.store.transaction(read_only=True) as session:
            state = stored.read_state(session)
        assert state is not None and state.last_error is not None
        assert "429" in state.last_error

        # The alert's message was deleted in the chat: the appeal goes out as a new one.
        api.fail("editMessageText", 400)
        control(sim, f"orders/{order_id}/appeal")
        assert daemon.run_once() == 0
        wait_for(lambda: any(t.startswith("Appeal opened") for t in api.texts_to(CHAT)))

        # A restart (a new bot over the same database) resends nothing.
        bot.stop()
        bot = start_bot(daemon, sim)
        # And an outage of the whole Bot API while the next alert is due: seen, then sent.
        with api.changed:
            api.down = True
        second = paid_order(daemon, sim, "6000.00")
        confirm(daemon, second, "6000.00")
        assert daemon.run_once() == 0
        wait_for(lambda: bot_failures(daemon) > 0)
        with api.changed:
            api.down = False
        wait_for(lambda: api.buttons_sent(f"a:{second}"), timeout=30)
        wait_for(lambda: bot_failures(daemon) == 0)
        assert len(api.buttons_sent(f"a:{order_id}")) == 1
        assert len(api.buttons_sent(f"a:{second}")) == 1
    finally:
        bot.stop()
        daemon.close()


def test_an_alert_that_cannot_be_shown_holds_no_later_one_back(
    sim: SimulatorServer, api: BotApi, daemon: Daemon
) -> None:
    account_id = daemon.accounts[0].id
    with daemon.store.transaction() as session:  # a payload this version cannot show
        poison = append_event(
            session,
            account_id=account_id,
            order_pk=None,
            type="payment.unmatched",
            payload={"account": "desk", "payment": {"id": 1}, "orders": 5},
        )
    with capture_logs() as logs:
        order_id = paid_order(daemon, sim)
        confirm(daemon, order_id, "5000.00")
        assert daemon.run_once() == 0
        wait_for(lambda: api.buttons_sent(f"a:{order_id}"), timeout=20)
    assert alerted_up_to(daemon) > poison
    skipped = [e for e in logs if e["event"] == "telegram.alert_unrenderable"]
    assert [e["event_id"] for e in skipped] == [poison]
