"""Action handlers on their own, on a real store: each kind's state machine, no daemon.

The exchange client points at a closed port: a handler that is expected not to
ask the exchange would fail (and settle otherwise) if it did.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from p2pilot.chat.channel import ChatChannel
from p2pilot.exchange.client import ExchangeClient
from p2pilot.records import OrderDetail, OrderStatus
from p2pilot.rules.account import AccountBinding
from p2pilot.rules.actions.registry import HANDLERS
from p2pilot.rules.context import EventContext, OrderFacts
from p2pilot.rules.executors import Executor
from p2pilot.rules.guards import ReleaseLimits
from p2pilot.rules.model import (
    Action,
    CommandAction,
    Conditions,
    MarkPaidAction,
    NotifyAction,
    ReleaseAction,
    Rule,
)
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store import blacklist as stored_blacklist
from p2pilot.store import ledger, releases
from p2pilot.store import orders as stored_orders
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.events import EventRecord
from p2pilot.store.leases import take_or_renew
from p2pilot.store.ledger import ActionRecord, ActionState
from p2pilot.store.models import OrderRow

from ..orderrows import claimed_action, sell_order_row
from .simdesk import control, running_simulator, sim_status, took_effect

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
FINISH = "/v5/p2p/order/finish"
LIMITS = ReleaseLimits(
    auto_release=True, max_amount={"RUB": Decimal("10000")}, daily_limit={"RUB": Decimal("10000")}
)


def account(store: Store, *, dry_run: bool = False) -> AccountBinding:
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
    client = ExchangeClient(
        account="desk", api_key="k", api_secret="s", base_url="http://127.0.0.1:9"
    )
    return AccountBinding(
        account_id, "desk", client, ChatChannel(client, account="desk"), dry_run=dry_run
    )


def context(desk: AccountBinding, order: OrderFacts | None = None) -> EventContext:
    event = EventRecord(
        id=7,
        account_id=desk.id,
        order_pk=order.pk if order else None,
        type="order.paid",
        payload={"amount": "500.00"},
        created_at=NOW,
        handled_at=None,
    )
    return EventContext(event, "desk", "", order, None, desk.client, NOW, None)


def claimed(
    store: Store, desk: AccountBinding, kind: str, order_pk: int | None = None
) -> ActionRecord:
    with store.transaction() as session:
        return claimed_action(
            session, desk.id, order_pk, f"ev7/r/0:{kind}", at=NOW, rule="r", kind=kind
        )


def stored(store: Store, record: ActionRecord) -> ActionRecord:
    with store.transaction(read_only=True) as session:
        found = ledger.get(session, record.key)
    assert found is not None
    return found


def rule_of(action: Action) -> Rule:
    return Rule("r", ("order.paid",), Conditions(), (action,))


def events(logs: list[dict[str, Any]]) -> list[str]:
    return [entry["event"] for entry in logs]


def test_every_action_type_has_a_handler() -> None:
    assert set(HANDLERS) == set(get_args(Action))


def test_a_command_runs_once_with_the_event_on_stdin(store: Store, tmp_path: Path) -> None:
    desk = account(store)
    out = tmp_path / "event.json"
    script = f"import sys; open({str(out)!r}, 'w').write(sys.stdin.read())"
    action = CommandAction(argv=(sys.executable, "-c", script))
    record = claimed(store, desk, "command")
    Executor(store, LIMITS, lambda: NOW).execute(
        record, action, context(desk), desk, rule_of(action)
    )
    after = stored(store, record)
    assert after.state == ActionState.SUCCEEDED
    assert after.attempts == 1
    document = json.loads(out.read_text())
    assert (document["event"], document["action_key"], document["rule"]) == (
        "order.paid",
        record.key,
        "r",
    )


def test_an_interrupted_command_is_reported_unknown_not_run_again(
    store: Store, tmp_path: Path
) -> None:
    desk = account(store)
    marker = tmp_path / "ran"
    action = CommandAction(argv=(sys.executable, "-c", f"open({str(marker)!r}, 'w')"))
    record = claimed(store, desk, "command")
    with store.transaction() as session:  # the crash: sent, never settled
        ledger.transition(session, record.id, ActionState.SENT, at=NOW, count_attempt=True)
    with capture_logs() as logs:
        Executor(store, LIMITS, lambda: NOW).reconcile(
            stored(store, record), rule_of(action), action, context(desk), desk
        )
    assert stored(store, record).state == ActionState.UNKNOWN
    assert events(logs) == ["action.reconciling", "action.outcome_unknown"]
    assert logs[-1]["action_id"] == record.id
    assert not marker.exists()


def test_a_pending_command_found_at_start_runs_now(store: Store, tmp_path: Path) -> None:
    desk = account(store)
    marker = tmp_path / "ran"
    action = CommandAction(argv=(sys.executable, "-c", f"open({str(marker)!r}, 'w')"))
    record = claimed(store, desk, "command")  # claimed, then the crash: nothing was sent
    Executor(store, LIMITS, lambda: NOW).reconcile(
        record, rule_of(action), action, context(desk), desk
    )
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert marker.exists()


def test_a_dry_run_notification_says_what_it_would_send(store: Store) -> None:
    desk = account(store, dry_run=True)
    action = NotifyAction(urls=("json://127.0.0.1:9/",))
    record = claimed(store, desk, "notify")
    with capture_logs() as logs:
        Executor(store, LIMITS, lambda: NOW).execute(
            record, action, context(desk), desk, rule_of(action)
        )
    after = stored(store, record)
    assert after.state == ActionState.DRY_RUN
    assert after.detail == {"title": "p2pilot: order.paid"}
    assert logs == [
        {
            "event": "action.dry_run",
            "log_level": "info",
            "title": "p2pilot: order.paid",
            "account": "desk",
            "order_id": None,
            "rule": "r",
            "action": "notify",
            "action_id": record.id,
        }
    ]


def finished_order(store: Store, desk: AccountBinding) -> OrderFacts:
    with store.transaction() as session:
        row = sell_order_row(
            desk.id,
            "1990000000000000001",
            status=int(OrderStatus.COMPLETED),
            counterparty_nickname="buyer",
            counterparty_user_id="61000001",
            counterparty_real_name="OLEG S",
            created_at=NOW,
            first_seen_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        session.flush()
        return OrderFacts.from_row(row)


@pytest.mark.parametrize("state", [ActionState.PENDING, ActionState.UNKNOWN])
def test_a_release_of_a_finished_order_stands_down_without_asking_the_exchange(
    store: Store, state: ActionState
) -> None:
    desk = account(store)
    order = finished_order(store, desk)
    record = claimed(store, desk, "release", order.pk)
    if state != ActionState.PENDING:
        with store.transaction() as session:
            ledger.transition(session, record.id, state, at=NOW)
    with capture_logs() as logs:
        Executor(store, LIMITS, lambda: NOW).reconcile(
            stored(store, record),
            rule_of(ReleaseAction()),
            ReleaseAction(),
            context(desk, order),
            desk,
        )
    after = stored(store, record)
    assert after.state == ActionState.SKIPPED
    assert after.detail == {"decision": "finished"}
    assert events(logs) == ["action.reconciling", "release.stood_down"]
    assert logs[-1]["reason"] == "order is 50 (completed): nothing to release"


# -- a release interrupted after its claim, settled against the exchange ---------------

SIM_KEY, SIM_SECRET = "handlers-key", "handlers-secret-1"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({SIM_KEY: SIM_SECRET}) as server:
        yield server


def paid_release(
    store: Store, sim: SimulatorServer, **buyer: str
) -> tuple[AccountBinding, OrderFacts, ActionRecord]:
    """A paid sell order (``buyer``: the simulator's counterparty fields), stored, and
    its release row ``pending``."""
    desk = sim_desk(store, sim)
    order_id = control(sim, "orders", side="sell", amount="3100.00", price="81.00", **buyer)["id"]
    control(sim, f"orders/{order_id}/pay")
    order = store_order(store, desk, order_id)
    return desk, order, claimed(store, desk, "release", order.pk)


def sim_desk(store: Store, sim: SimulatorServer) -> AccountBinding:
    """The account "desk", its client on the simulator."""
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
    client = ExchangeClient(
        account="desk", api_key=SIM_KEY, api_secret=SIM_SECRET, base_url=sim.url
    )
    return AccountBinding(account_id, "desk", client, ChatChannel(client, account="desk"))


def store_order(store: Store, desk: AccountBinding, order_id: str) -> OrderFacts:
    """The order as the exchange has it now, stored."""
    with store.transaction() as session:
        stored_orders.apply_order(session, desk.id, desk.client.order_detail(order_id), now=NOW)
        row = session.scalars(select(OrderRow).where(OrderRow.exchange_id == order_id)).one()
        return OrderFacts.from_row(row)


def claimed_release(
    store: Store, sim: SimulatorServer
) -> tuple[AccountBinding, OrderFacts, ActionRecord]:
    """A paid sell order, stored, its release claimed and the row ``sent``.

    The state a crash between the claim and the exchange's answer leaves.
    """
    desk, order, record = paid_release(store, sim)
    with store.transaction() as session:
        assert releases.claim_release(
            session,
            account_id=desk.id,
            order_pk=order.pk,
            action_id=record.id,
            amount=order.amount,
            currency=order.currency,
            counterparty_user_id=order.counterparty_user_id or None,
            at=NOW,
        )
        ledger.transition(session, record.id, ActionState.SENT, at=NOW, count_attempt=True)
    return desk, order, stored(store, record)


def reconcile_release(
    store: Store, desk: AccountBinding, order: OrderFacts, record: ActionRecord
) -> list[dict[str, Any]]:
    with capture_logs() as logs:
        Executor(store, LIMITS, lambda: NOW).reconcile(
            record, rule_of(ReleaseAction()), ReleaseAction(), context(desk, order), desk
        )
    return logs


def test_a_sent_release_the_exchange_carried_out_is_confirmed_not_called_again(
    store: Store, sim: SimulatorServer
) -> None:
    desk, order, record = claimed_release(store, sim)
    desk.client.release(order.id)  # went out; the crash came before its answer was stored
    logs = reconcile_release(store, desk, order, record)
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert len(took_effect(sim, FINISH)) == 1
    assert events(logs) == ["action.reconciling", "release.confirmed_by_status"]
    with store.transaction(read_only=True) as session:
        assert releases.release_state(session, order.pk) == "succeeded"


def test_a_sent_release_that_never_reached_the_exchange_is_called_once_more(
    store: Store, sim: SimulatorServer
) -> None:
    desk, order, record = claimed_release(store, sim)
    logs = reconcile_release(store, desk, order, record)
    after = stored(store, record)
    assert (after.state, after.attempts) == (ActionState.SUCCEEDED, 2)
    assert len(took_effect(sim, FINISH)) == 1
    assert events(logs) == ["action.reconciling", "release.done"]
    assert sim_status(sim, order.id) == OrderStatus.COMPLETED


def test_a_sent_row_whose_claim_another_action_carried_out_stands_down(
    store: Store, sim: SimulatorServer
) -> None:
    """The fault campaign's case: a definite refusal freed the claim, the daemon died
    before the row left ``sent``, and after the restart the order's other release
    (its ``payment.received``) claimed the order again and released it. The first row
    took no part in that release and must not be recorded as the one that did."""
    desk, order, first = claimed_release(store, sim)
    with store.transaction() as session:
        assert releases.settle_release(session, order.pk, "failed", action_id=first.id, at=NOW)
    with store.transaction() as session:
        second = claimed_action(session, desk.id, order.pk, "ev8/r/0:release", at=NOW, rule="r")
        assert releases.claim_release(
            session,
            account_id=desk.id,
            order_pk=order.pk,
            action_id=second.id,
            amount=order.amount,
            currency=order.currency,
            counterparty_user_id=order.counterparty_user_id or None,
            at=NOW,
        )
    desk.client.release(order.id)
    with store.transaction() as session:
        assert releases.settle_release(session, order.pk, "succeeded", action_id=second.id, at=NOW)
        # A late word from the first row cannot touch the claim it no longer holds.
        assert not releases.settle_release(session, order.pk, "failed", action_id=first.id, at=NOW)
    logs = reconcile_release(store, desk, order, first)
    after = stored(store, first)
    assert after.state == ActionState.SKIPPED
    assert after.detail == {"decision": "duplicate"}
    assert events(logs) == ["action.reconciling", "release.stood_down"]
    assert len(took_effect(sim, FINISH)) == 1
    with store.transaction(read_only=True) as session:
        assert releases.claim_of(session, order.pk) == releases.ReleaseClaim(second.id, "succeeded")


class LandsLate(ExchangeClient):
    """The crashed daemon's call reaches the exchange late: after the order is read again.

    A timed-out or interrupted ``release`` may be carried out by the exchange a moment
    later; here it lands between reconcile's read of the order (still paid) and its
    second call, which the exchange then refuses for the order's status.
    """

    landed = False

    def order_detail(self, order_id: str) -> OrderDetail:
        detail = super().order_detail(order_id)
        if not self.landed:
            self.landed = True
            super().release(order_id)
        return detail


def test_a_refused_second_call_does_not_undo_a_first_that_landed_late(
    store: Store, sim: SimulatorServer
) -> None:
    """After a crash the first call's outcome is unknown; a refusal of the second says
    nothing of it. Recorded as failed, the claim would be freed and the release left out
    of the day's totals, with the crypto gone. The row stays unknown until the order's
    status tells."""
    desk, order, record = claimed_release(store, sim)
    late = LandsLate(account="desk", api_key=SIM_KEY, api_secret=SIM_SECRET, base_url=sim.url)
    desk = AccountBinding(desk.id, "desk", late, ChatChannel(late, account="desk"))
    logs = reconcile_release(store, desk, order, record)
    assert stored(store, record).state == ActionState.UNKNOWN
    with store.transaction(read_only=True) as session:
        assert releases.claim_of(session, order.pk) == releases.ReleaseClaim(record.id, "sent")
    assert events(logs)[-1] == "action.outcome_unknown"
    logs = reconcile_release(store, desk, order, stored(store, record))
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert events(logs) == ["action.reconciling", "release.confirmed_by_status"]
    assert len(took_effect(sim, FINISH)) == 1
    with store.transaction(read_only=True) as session:
        assert releases.claim_of(session, order.pk) == releases.ReleaseClaim(record.id, "succeeded")


def paid_release_with_evidence(
    store: Store, sim: SimulatorServer
) -> tuple[AccountBinding, OrderFacts, ActionRecord]:
    """:func:`paid_release` of Oleg's order, his payment bound to it: every guard holds."""
    desk, order, record = paid_release(
        store, sim, counterparty="oleg_s", counterparty_real_name="OLEG SMIRNOV"
    )
    with store.transaction() as session:
        payment = stored_payments.add_payment(
            session,
            amount=order.amount,
            currency=order.currency,
            payer_name=order.counterparty_real_name,
            reference=f"bank-{order.id}",
            received_at=NOW,
            source="http",
            account_id=desk.id,
            at=NOW,
        )
        assert payment is not None
        assert stored_payments.match(session, payment.id, order.pk, at=NOW)
    return desk, order, record


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # leases are PostgreSQL's
def test_a_release_decided_while_the_lease_lapsed_is_left_for_the_holder(
    store: Store, sim: SimulatorServer
) -> None:
    """The account's lease ran out while the daemon decided (a stalled renewal): the
    claim refuses, rightly. Recorded as refused (``skipped``), the row was closed and
    its event handled: nobody would release the paid order, and a daemon that took the
    account meanwhile could find its own claim's row overwritten. The row is left as
    it was, for whoever holds the account."""
    desk, order, record = paid_release_with_evidence(store, sim)
    executor = Executor(store, LIMITS, lambda: NOW, lease_holder="this-daemon")
    rule = rule_of(ReleaseAction())
    with capture_logs() as logs:
        executor.execute(record, ReleaseAction(), context(desk, order), desk, rule)
    assert stored(store, record).state == ActionState.PENDING
    assert events(logs) == ["release.lease_lost"]
    assert took_effect(sim, FINISH) == []
    with store.transaction() as session:  # renewed: the daemon holds the account again
        assert take_or_renew(session, desk.id, "this-daemon", timedelta(seconds=30))
    executor.reconcile(stored(store, record), rule, ReleaseAction(), context(desk, order), desk)
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert len(took_effect(sim, FINISH)) == 1


def test_a_mark_paid_the_seller_then_completed_is_recorded_as_done(
    store: Store, sim: SimulatorServer
) -> None:
    """The crash came after ``order/pay`` went out, and the seller released before the
    restart. The order completed because it was marked paid: not a failure."""
    desk = sim_desk(store, sim)
    order_id = control(sim, "orders", side="buy", amount="800.00", price="80.00")["id"]
    term = desk.client.order_detail(order_id).payment_terms[0]
    desk.client.mark_paid(order_id=order_id, payment_type=term.payment_type, payment_id=term.id)
    control(sim, f"orders/{order_id}/release")
    order = store_order(store, desk, order_id)
    record = claimed(store, desk, "mark_paid", order.pk)
    with store.transaction() as session:
        ledger.transition(session, record.id, ActionState.SENT, at=NOW, count_attempt=True)
    action = MarkPaidAction(payment_method=str(term.payment_type))
    Executor(store, LIMITS, lambda: NOW).reconcile(
        stored(store, record), rule_of(action), action, context(desk, order), desk
    )
    after = stored(store, record)
    assert (after.state, after.error) == (ActionState.SUCCEEDED, None)


def test_a_buyer_blacklisted_while_the_release_was_unknown_is_not_called_again(
    store: Store, sim: SimulatorServer
) -> None:
    """The crash came between the claim and the exchange's answer; before the restart
    the operator blacklisted the buyer. The order is still paid, so the first call did
    not take effect: a second call would be a new release, to a blacklisted buyer."""
    desk, order, record = claimed_release(store, sim)
    with store.transaction() as session:
        stored_blacklist.add(
            session, kind="uid", value=order.counterparty_user_id, reason="fraud", at=NOW
        )
    logs = reconcile_release(store, desk, order, record)
    after = stored(store, record)
    assert after.state == ActionState.FAILED
    assert after.error is not None and "blacklist" in after.error
    assert events(logs) == ["action.reconciling", "release.failed_after_unknown"]
    assert took_effect(sim, FINISH) == []
    with store.transaction(read_only=True) as session:
        assert releases.claim_of(session, order.pk) == releases.ReleaseClaim(record.id, "failed")


class Overtaken(ExchangeClient):
    """A daemon whose lease lapsed mid-call: the account's new holder reconciles the same
    row (its claim, ``sent``) and releases before this daemon's call reaches the exchange,
    which then refuses it for the order's status."""

    def __init__(self, new_holder: Callable[[], None], **settings: Any) -> None:
        super().__init__(**settings)
        self.new_holder = new_holder

    def release(self, order_id: str) -> None:
        self.new_holder()
        super().release(order_id)


def test_a_late_refusal_does_not_undo_the_new_holders_release(
    store: Store, sim: SimulatorServer
) -> None:
    """Recorded as failed, the refusal would free the claim and take the release out of
    the day's totals, with the crypto gone: a later claim could even release it again."""
    desk, order, record = paid_release_with_evidence(store, sim)
    slow = Overtaken(
        lambda: reconcile_release(store, desk, order, stored(store, record)),
        account="desk",
        api_key=SIM_KEY,
        api_secret=SIM_SECRET,
        base_url=sim.url,
    )
    old = AccountBinding(desk.id, "desk", slow, ChatChannel(slow, account="desk"))
    rule = rule_of(ReleaseAction())
    Executor(store, LIMITS, lambda: NOW).execute(
        record, ReleaseAction(), context(old, order), old, rule
    )
    assert len(took_effect(sim, FINISH)) == 1
    assert stored(store, record).state == ActionState.SUCCEEDED
    with store.transaction(read_only=True) as session:
        assert releases.claim_of(session, order.pk) == releases.ReleaseClaim(record.id, "succeeded")


@pytest.mark.parametrize("overwritten", [ActionState.PENDING, ActionState.AWAITING])
def test_a_claimed_row_a_late_decision_overwrote_is_settled_by_the_orders_status(
    store: Store, sim: SimulatorServer, overwritten: ActionState
) -> None:
    """The new holder claimed and sent; the old daemon's late decision wrote the row back
    to pending (or awaiting); the new holder crashed. Decided afresh, the row met its own
    ``sent`` claim and stood down as a duplicate: the claim stayed ``sent`` for ever and
    the paid order was never released."""
    desk, order, record = claimed_release(store, sim)
    with store.transaction() as session:
        ledger.transition(session, record.id, overwritten, at=NOW)
    logs = reconcile_release(store, desk, order, stored(store, record))
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert events(logs)[-1] == "release.done"
    assert len(took_effect(sim, FINISH)) == 1
    with store.transaction(read_only=True) as session:
        assert releases.claim_of(session, order.pk) == releases.ReleaseClaim(record.id, "succeeded")


# -- a row whose rule was removed from the config ---------------------------------------


@pytest.mark.parametrize("landed", [True, False])
def test_a_claimed_release_whose_rule_is_gone_is_settled_by_the_orders_status(
    store: Store, sim: SimulatorServer, landed: bool
) -> None:
    """Left ``unknown`` with its claim ``sent``, the release was "in flight" for ever:
    counted against the limits, never settled, the warning repeated every pass. What
    the exchange did is a fact of the order, not of the rule."""
    desk, order, record = claimed_release(store, sim)
    if landed:
        desk.client.release(order.id)  # the crash came before its answer was stored
    executor = Executor(store, LIMITS, lambda: NOW)
    with capture_logs() as logs:
        executor.settle_without_rule(record, context(desk, order), desk)
    after = stored(store, record)
    assert after.state == (ActionState.SUCCEEDED if landed else ActionState.FAILED)
    assert len(took_effect(sim, FINISH)) == (1 if landed else 0)  # never called again
    with store.transaction(read_only=True) as session:
        claim = releases.claim_of(session, order.pk)
    assert claim == releases.ReleaseClaim(record.id, "succeeded" if landed else "failed")
    assert events(logs)[0] == "ledger.rule_gone"
    if not landed:
        assert after.error is not None and "rule removed from the config" in after.error


def test_an_open_row_whose_rule_is_gone_is_told_once(store: Store) -> None:
    desk = account(store)
    record = claimed(store, desk, "webhook")
    with store.transaction() as session:
        ledger.transition(session, record.id, ActionState.SENT, at=NOW, count_attempt=True)
    executor = Executor(store, LIMITS, lambda: NOW)
    with capture_logs() as logs:
        executor.settle_without_rule(stored(store, record), context(desk), desk)
        executor.settle_without_rule(stored(store, record), context(desk), desk)
    assert stored(store, record).state == ActionState.UNKNOWN
    assert events(logs) == ["ledger.rule_gone"]


def test_a_late_decision_does_not_close_a_row_its_own_claim_holds(
    store: Store, sim: SimulatorServer
) -> None:
    """The old daemon read the row pending and decides after the new holder claimed it
    and crashed: it finds the order claimed and would settle the row ``skipped``, a
    closed row nothing reconciles, its claim ``sent`` for ever and the order unreleased."""
    desk, order, record = claimed_release(store, sim)
    stale = dataclasses.replace(record, state=ActionState.PENDING)  # as the old daemon read it
    rule = rule_of(ReleaseAction())
    executor = Executor(store, LIMITS, lambda: NOW)
    executor.execute(stale, ReleaseAction(), context(desk, order), desk, rule)
    assert stored(store, record).state == ActionState.SENT
    reconcile_release(store, desk, order, stored(store, record))
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert len(took_effect(sim, FINISH)) == 1


def test_a_released_row_a_late_word_reopened_is_recorded_as_the_release(
    store: Store, sim: SimulatorServer
) -> None:
    """The new holder released under the row's claim; the old daemon's second call,
    refused, wrote the row back to unknown. Reconciled afresh, it stood down as a
    duplicate of its own release: the one row that released said skipped."""
    desk, order, record = claimed_release(store, sim)
    reconcile_release(store, desk, order, record)  # the new holder: released, recorded
    with store.transaction() as session:
        ledger.transition(session, record.id, ActionState.UNKNOWN, at=NOW, error="refused")
    logs = reconcile_release(store, desk, order, stored(store, record))
    assert stored(store, record).state == ActionState.SUCCEEDED
    assert events(logs) == ["action.reconciling", "release.confirmed_by_claim"]
    assert len(took_effect(sim, FINISH)) == 1
