"""Checks that other releases can change are made under one lock with the claim (issue 11, case 6).

Two releases racing (two events, two daemons) once both passed a daily limit only
one fitted under, and a daemon that lost its lease finished the batch it had
fetched. On SQLite and PostgreSQL, with real threads and real transactions.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import make_url, select, text

from p2pilot.config import parse_config
from p2pilot.operator import Operator, OperatorCommands, Outcome
from p2pilot.rules.dispatch import EventDispatcher
from p2pilot.rules.guards import ReleaseLimits
from p2pilot.rules.release_claim import ClaimResult, OrderToRelease, claim, lock_account
from p2pilot.rules.verdict import EvidenceSummary, GuardResult, ReleaseInputs
from p2pilot.store import ledger, releases
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.events import EventRecord, append_event
from p2pilot.store.leases import take_or_renew
from p2pilot.store.ledger import ActionState
from p2pilot.store.models import ReleaseApprovalRow

from ..evidence import stored_payment
from ..orderrows import claimed_action, sell_order_row

NOW = datetime.now(UTC)
LIMITS = ReleaseLimits(
    auto_release=True,
    max_amount={"RUB": Decimal("10000")},
    daily_limit={"RUB": Decimal("10000")},
)


def paid_order(store: Store, account_id: int, exchange_id: str, amount: str) -> tuple[int, int]:
    """A paid sell order with its evidence and a release ledger row: (order pk, action id)."""
    with store.transaction() as session:
        row = sell_order_row(
            account_id,
            exchange_id,
            amount,
            counterparty_nickname=f"buyer_{exchange_id}",
            counterparty_user_id=f"6100{exchange_id}",
            counterparty_real_name="OLEG S",
            created_at=NOW,
            first_seen_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        session.flush()
        payment_id = stored_payment(
            session,
            amount,
            f"bank-{exchange_id}",
            payer="Oleg Smirnov",
            source="http",
            account_id=account_id,
            at=NOW,
        )
        assert stored_payments.match(session, payment_id, row.id, at=NOW)
        action = claimed_action(session, account_id, row.id, f"ev0/release/{exchange_id}", at=NOW)
        return row.id, action.id


def release(
    store: Store, account_id: int, order_pk: int, action_id: int, exchange_id: str, amount: str
) -> ClaimResult:
    # What the guards saw before the lock: nothing released yet today, all ok.
    inputs = ReleaseInputs(
        stored_amount=Decimal(amount),
        currency="RUB",
        fresh=None,
        released_today=Decimal(0),
        released_today_counterparty=Decimal(0),
        counterparty=None,
        evidence=EvidenceSummary(f"bank-{exchange_id}", Decimal(amount), "Oleg Smirnov", "http"),
        kyc_name="OLEG S",
    )
    return claim(
        store,
        account_id=account_id,
        lease_holder=None,
        order=OrderToRelease(
            order_pk, Decimal(amount), "RUB", f"6100{exchange_id}", f"buyer_{exchange_id}", "OLEG S"
        ),
        action_id=action_id,
        limits=LIMITS,
        inputs=inputs,
        guards=[GuardResult("daily_limit", True, "released today 0 + amount")],
        at=NOW,
    )


def test_two_releases_racing_cannot_both_pass_the_daily_limit(store: Store) -> None:
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
    orders = {oid: paid_order(store, account_id, oid, "8000.00") for oid in ("71", "72")}
    start = threading.Barrier(2)
    results: dict[str, ClaimResult] = {}

    def racer(exchange_id: str) -> None:
        order_pk, action_id = orders[exchange_id]
        start.wait()
        results[exchange_id] = release(
            store, account_id, order_pk, action_id, exchange_id, "8000.00"
        )

    threads = [threading.Thread(target=racer, args=(oid,)) for oid in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(r.claimed for r in results.values()) == [False, True]
    (loser,) = [r for r in results.values() if not r.claimed]
    failed = {g.name: g.detail for g in loser.guards if not g.ok}
    assert failed == {
        "daily_limit": "released today 8000.00 + 8000.00 = 16000.00"
        " <= release_daily_limit 10000 RUB"
    }


def test_a_blacklist_entry_added_while_deciding_still_holds_the_release(store: Store) -> None:
    from p2pilot.store import blacklist

    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
    order_pk, action_id = paid_order(store, account_id, "73", "500.00")
    with store.transaction() as session:
        blacklist.add(session, kind="name", value="Oleg Smirnov", reason="fraud", at=NOW)
    result = release(store, account_id, order_pk, action_id, "73", "500.00")
    assert not result.claimed
    assert [g.name for g in result.guards if not g.ok] == ["not_blacklisted"]


@pytest.mark.postgres
def test_a_daemon_without_the_lease_claims_nothing(postgres_url: str) -> None:
    from p2pilot.store.migrate import upgrade

    store = Store(postgres_url)
    try:
        upgrade(store)
        with store.transaction() as session:
            account_id = ensure_account(session, "desk")
            assert take_or_renew(session, account_id, "other-daemon", timedelta(seconds=30))
        order_pk, action_id = paid_order(store, account_id, "74", "500.00")
        inputs = ReleaseInputs(
            stored_amount=Decimal("500.00"),
            currency="RUB",
            fresh=None,
            released_today=Decimal(0),
            released_today_counterparty=Decimal(0),
            counterparty=None,
            evidence=EvidenceSummary("bank-74", Decimal("500.00"), "Oleg Smirnov", "http"),
            kyc_name="OLEG S",
        )
        result = claim(
            store,
            account_id=account_id,
            lease_holder="this-daemon",
            order=OrderToRelease(order_pk, Decimal("500.00"), "RUB", "610074", "b", "OLEG S"),
            action_id=action_id,
            limits=LIMITS,
            inputs=inputs,
            guards=[],
            at=NOW,
        )
        assert not result.claimed
        assert [g.name for g in result.guards if not g.ok] == ["lease_held"]
    finally:
        store.dispose()


def test_a_lease_lost_mid_batch_stops_that_accounts_events(store: Store) -> None:
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        for index in range(3):
            append_event(
                session,
                account_id=account_id,
                order_pk=None,
                type="chat.message",
                payload={"n": index},
                at=NOW,
            )
    owned = {account_id}
    seen: list[int] = []

    class LosesTheLease:
        def handle(self, event: EventRecord) -> None:
            seen.append(event.payload["n"])
            owned.clear()  # the lease is lost while the first event is handled

        def retry_due(self) -> int:
            return 0

    dispatcher = EventDispatcher(
        store, lambda: NOW, handlers=[LosesTheLease()], held=lambda: set(owned)
    )
    assert dispatcher.drain() == 1
    assert seen == [0]  # the rest of the batch waits for whoever holds the account


@pytest.mark.postgres
def test_a_hold_given_while_a_release_is_claimed_waits_for_it_and_is_refused(
    migrated_postgres_url: str,
) -> None:
    """An operator's hold and the daemon's claim of the same order, at the same moment.

    The claim read "no hold" under the account's lock while the hold, outside it, read
    "nothing under way" and was recorded: the operator was told "held" and the order
    released. The hold now takes the account's lock: it waits for the claim and is
    refused as under way (on SQLite every write transaction is serialised already).
    """
    name = f"hold-{uuid.uuid4().hex[:8]}"
    operator_url = make_url(migrated_postgres_url).update_query_dict({"application_name": name})
    store = Store(migrated_postgres_url)
    operator_store = Store(operator_url.render_as_string(hide_password=False))
    try:
        with store.transaction() as session:
            account_id = ensure_account(session, "desk")
        order_pk, action_id = paid_order(store, account_id, "76", "500.00")
        desk = {"name": "desk", "api_key": "k", "api_secret": "s"}
        commands = OperatorCommands(operator_store, parse_config({"accounts": [desk]}))
        outcome: list[Outcome] = []
        with store.transaction() as session:  # the daemon's claim, not committed yet
            lock_account(session, account_id)
            assert releases.claim_release(
                session,
                account_id=account_id,
                order_pk=order_pk,
                action_id=action_id,
                amount=Decimal("500.00"),
                currency="RUB",
                counterparty_user_id="610076",
                at=NOW,
            )
            ledger.transition(session, action_id, ActionState.SENT, at=NOW, count_attempt=True)
            holder = threading.Thread(
                target=lambda: outcome.append(
                    commands.hold(Operator("alice", "cli"), "76", "buyer disputes")
                )
            )
            holder.start()
            deadline = time.monotonic() + 30
            while not outcome and not _waits_on_a_lock(store, name):
                assert time.monotonic() < deadline, "the hold neither finished nor waited"
                time.sleep(0.01)
        holder.join(timeout=30)
        (result,) = outcome
        assert (result.ok, result.message) == (False, "refused: the release is already under way")
        with store.transaction(read_only=True) as session:
            assert session.scalars(select(ReleaseApprovalRow)).all() == []
    finally:
        operator_store.dispose()
        store.dispose()


def _waits_on_a_lock(store: Store, application_name: str) -> bool:
    with store.transaction(read_only=True) as session:
        return (
            session.execute(
                text(
                    "SELECT 1 FROM pg_stat_activity"
                    " WHERE application_name = :name AND wait_event_type = 'Lock'"
                ),
                {"name": application_name},
            ).first()
            is not None
        )
