"""``release_mode = "approve"``: the daemon waits, operators approve, the daemon releases once.

The daemon runs in-process against the simulator (as in test_rules.py); the
operators act through :class:`OperatorCommands`, as the CLI and the console do.
The simulator's request log is the witness of what reached the exchange.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from p2pilot.config import AccountConfig
from p2pilot.exchange.port import Exchange
from p2pilot.operator import Operator, OperatorCommands
from p2pilot.rules.actions import release as release_module
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import OrderEventRow

from .simdesk import control, in_process, running_simulator, served, sim_status, took_effect
from .test_rules import FINISH, KEY, SECRET, SEND, actions_of, confirm, make_config, run_daemon

ALICE = Operator("alice", "cli")
BOB = Operator("bob", "console")
RELEASE = {
    "name": "release",
    "on": ["order.paid", "payment.received"],
    "if": {"payment_confirmed": True},
    "release": True,
}


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


# Releases wait for an operator's approval; the limits leave room for large orders.
APPROVE = {
    "release_mode": "approve",
    "release_max_amount": {"RUB": "500000"},
    "release_daily_limit": {"RUB": "1000000"},
}


def approve_desk(db_url: str, sim: SimulatorServer, **safety: Any) -> Daemon:
    config = make_config(db_url, sim, rules=[RELEASE], safety={**APPROVE, **safety})
    return run_daemon(config, sim)


def paid_with_evidence(daemon: Daemon, sim: SimulatorServer, amount: str = "5000.00") -> str:
    order_id = str(control(sim, "orders", side="sell", amount=amount, price="81.00")["id"])
    control(sim, f"orders/{order_id}/pay")
    assert daemon.run_once() == 0
    confirm(daemon, order_id, amount)
    assert daemon.run_once() == 0
    return order_id


def released(sim: SimulatorServer) -> list[str]:
    return [e["body"]["orderId"] for e in took_effect(sim, FINISH)]


def events_of(daemon: Daemon, kind: str) -> list[OrderEventRow]:
    with daemon.store.transaction(read_only=True) as session:
        return list(session.scalars(select(OrderEventRow).where(OrderEventRow.type == kind)))


def release_rows(daemon: Daemon, order_id: str) -> list[dict[str, Any]]:
    return [a for a in actions_of(daemon, order_id) if a["kind"] == "release"]


def test_a_waiting_release_goes_out_once_after_two_approvals(
    sim: SimulatorServer, db_url: str
) -> None:
    with capture_logs() as logs:
        daemon = approve_desk(db_url, sim)
        order_id = paid_with_evidence(daemon, sim)
        assert daemon.run_once() == 0
    commands = OperatorCommands(daemon.store, daemon.config)
    try:
        assert released(sim) == []
        assert [a["state"] for a in release_rows(daemon, order_id)] == ["awaiting"]
        pending = [e for e in logs if e["event"] == "order.release_pending"]
        # The decision's line, then the outbox's: the event reached the dispatcher once.
        assert [(e["order_id"], e.get("waiting_for")) for e in pending] == [
            (order_id, ["operator_approval"]),
            (order_id, None),
        ]
        [event] = events_of(daemon, "order.release_pending")
        assert event.payload["order_id"] == order_id
        assert commands.release_status(order_id).state == "awaiting"

        assert commands.approve(ALICE, order_id).message == "approved, waiting for the daemon"
        assert commands.approve(BOB, order_id).ok  # a second approval, before the daemon acts
        for _ in range(3):
            assert daemon.run_once() == 0
        assert released(sim) == [order_id] and sim_status(sim, order_id) == 50
        assert commands.release_status(order_id).state == "released"
        assert commands.approve(BOB, order_id).message == "already released"
        assert released(sim) == [order_id]
        [done] = [a for a in release_rows(daemon, order_id) if a["state"] == "succeeded"]
        guards = {g["guard"]: g for g in done["detail"]["guards"]}
        assert all(g["ok"] for g in guards.values())
        assert guards["operator_approval"]["detail"] == "approved by alice, bob"
        assert len(events_of(daemon, "order.release_pending")) == 1  # announced once
    finally:
        daemon.close()


def test_an_approval_rechecks_every_guard_when_it_is_used(
    sim: SimulatorServer, db_url: str
) -> None:
    daemon = approve_desk(db_url, sim)
    commands = OperatorCommands(daemon.store, daemon.config)
    try:
        order_id = paid_with_evidence(daemon, sim)
        control(sim, f"orders/{order_id}/appeal")  # after it began waiting, not yet polled
        assert commands.approve(ALICE, order_id).ok
        for _ in range(2):
            assert daemon.run_once() == 0
        assert released(sim) == []
        status = commands.release_status(order_id)
        assert status.message == "guard status_paid: exchange status 30 (appeal), need 20 (paid)"
    finally:
        daemon.close()


def test_two_person_above_waits_for_a_second_operator(sim: SimulatorServer, db_url: str) -> None:
    daemon = approve_desk(db_url, sim, two_person_above={"RUB": "200000"})
    commands = OperatorCommands(daemon.store, daemon.config)
    try:
        order_id = paid_with_evidence(daemon, sim, "250000.00")
        assert commands.approve(ALICE, order_id).details["state"] == "approved_partly"
        assert commands.approve(Operator("alice", "telegram"), order_id).ok  # same name
        for _ in range(2):
            assert daemon.run_once() == 0
        assert released(sim) == []
        assert commands.approve(BOB, order_id).message == "approved, waiting for the daemon"
        assert daemon.run_once() == 0
        assert released(sim) == [order_id]
    finally:
        daemon.close()


def test_a_hold_stops_the_release_until_lifted(sim: SimulatorServer, db_url: str) -> None:
    daemon = approve_desk(db_url, sim)
    commands = OperatorCommands(daemon.store, daemon.config)
    try:
        order_id = paid_with_evidence(daemon, sim)
        assert commands.approve(ALICE, order_id).ok
        assert commands.hold(BOB, order_id, "the buyer's bank recalled a transfer").ok
        assert daemon.run_once() == 0
        assert released(sim) == []
        [held] = events_of(daemon, "order.release_held")
        assert held.payload["reason"] == "the buyer's bank recalled a transfer"
        assert not commands.approve(ALICE, order_id).ok
        assert commands.approve(ALICE, order_id, lift_hold=True).ok
        assert daemon.run_once() == 0
        assert released(sim) == [order_id]
    finally:
        daemon.close()


def test_a_pause_stops_a_release_about_to_be_claimed(
    sim: SimulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Paused after every guard held and before the claim: the claim's own check stops it."""
    daemon = approve_desk(db_url, sim)
    commands = OperatorCommands(daemon.store, daemon.config)
    real_claim = release_module.release_claim.claim

    def pause_first(*args: Any, **kwargs: Any) -> Any:
        assert commands.pause(BOB, "desk", reason="bank app down").ok
        return real_claim(*args, **kwargs)

    try:
        order_id = paid_with_evidence(daemon, sim)
        assert commands.approve(ALICE, order_id).ok
        monkeypatch.setattr(release_module.release_claim, "claim", pause_first)
        assert daemon.run_once() == 0
        monkeypatch.undo()
        assert released(sim) == []
        [waiting] = [a for a in release_rows(daemon, order_id) if a["state"] == "awaiting"]
        failed = [g["guard"] for g in waiting["detail"]["guards"] if not g["ok"]]
        assert failed == ["account_paused"]
        assert daemon.run_once() == 0  # polling goes on; the release does not
        assert released(sim) == []
        assert commands.resume(ALICE, "desk").message == "resumed"
        assert daemon.run_once() == 0
        assert released(sim) == [order_id]
    finally:
        daemon.close()


def test_a_paused_account_in_auto_mode_releases_only_after_resume(
    sim: SimulatorServer, db_url: str
) -> None:
    daemon = approve_desk(db_url, sim, release_mode="auto")
    commands = OperatorCommands(daemon.store, daemon.config)
    try:
        assert commands.pause(ALICE, "desk").ok
        order_id = paid_with_evidence(daemon, sim)
        assert daemon.run_once() == 0
        assert released(sim) == []
        assert commands.release_status(order_id).state == "awaiting"
        assert commands.resume(ALICE, "desk").ok
        assert daemon.run_once() == 0
        assert released(sim) == [order_id]
    finally:
        daemon.close()


def test_say_sends_to_the_orders_chat_through_the_exchange(
    sim: SimulatorServer, db_url: str
) -> None:
    daemon = approve_desk(db_url, sim)
    built: list[str] = []

    def counted(account: AccountConfig) -> Exchange:
        built.append(account.name)
        return in_process(sim)(account)

    commands = OperatorCommands(daemon.store, daemon.config, client_factory=counted)
    try:
        order_id = str(control(sim, "orders", side="sell", amount="700.00", price="81.00")["id"])
        assert daemon.run_once() == 0
        sent = commands.say(ALICE, order_id, "Got it, releasing in a minute")
        assert (sent.ok, sent.message, sent.account) == (True, "sent", "desk")
        assert commands.say(BOB, order_id, "Thanks!").ok
        bodies = [s["body"] for s in served(sim, SEND)]
        assert [(b["orderId"], b["message"]) for b in bodies] == [
            (order_id, "Got it, releasing in a minute"),
            (order_id, "Thanks!"),
        ]
        empty = commands.say(ALICE, order_id, "   ")
        assert not empty.ok and empty.message == "refused: a message is 1 to 2000 characters"
        assert not commands.say(ALICE, "404", "hello").ok
        assert len(served(sim, SEND)) == 2
        assert built == ["desk"]  # one client for the account, built with the commands
    finally:
        daemon.close()
