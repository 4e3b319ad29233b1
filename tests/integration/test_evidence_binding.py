"""Evidence binds once, only when exactly one order can own it; the operator's side of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from p2pilot.evidence import binding
from p2pilot.evidence.intake import EvidenceError, attach_evidence
from p2pilot.evidence.matching import DEFAULT_POLICY
from p2pilot.evidence.reminders import PAID_UNCONFIRMED, remind_unconfirmed
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.models import OrderEventRow, OrderRow, PaymentRow

from ..evidence import report_payment
from ..orderrows import sell_order_row

NOW = datetime.now(UTC)


def order(store: Store, exchange_id: str, amount: str, kyc: str, **changes: object) -> int:
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        defaults: dict[str, object] = {
            "counterparty_nickname": f"nick_{exchange_id}",
            "counterparty_real_name": kyc,
            "created_at": NOW - timedelta(minutes=10),
            "paid_at": NOW - timedelta(minutes=9),
            "first_seen_at": NOW,
            "updated_at": NOW,
        }
        row = sell_order_row(account_id, exchange_id, amount, **(defaults | changes))
        session.add(row)
        session.flush()
        return row.id


def bank(store: Store, amount: str, payer: str, reference: str, source: str = "http") -> str | None:
    return report_payment(store, amount, reference, payer=payer, source=source, at=NOW).order_id


def events(store: Store, kind: str) -> list[dict[str, object]]:
    with store.transaction(read_only=True) as session:
        return list(
            session.scalars(select(OrderEventRow.payload).where(OrderEventRow.type == kind))
        )


def test_two_sources_reporting_one_transfer_pay_one_order(store: Store) -> None:
    first = order(store, "81", "2000.00", "OLEG S")
    order(store, "82", "2000.00", "OLEG S", status=10)  # the same buyer's next order
    # The bank's push arrives before its statement; both fit both orders.
    assert bank(store, "2000.00", "Oleg Smirnov", "push-1") is None
    assert bank(store, "2000.00", "OLEG SMIRNOV", "mail-1", source="mailbox") is None
    with store.transaction() as session:
        row = session.get(OrderRow, first)
        assert row is not None
        session.get(OrderRow, row.id + 1).status = 40  # type: ignore[union-attr]
        bound = binding.bind_waiting(session, row, DEFAULT_POLICY, at=NOW)
        assert bound is not None and bound.reference == "push-1"
    with store.transaction(read_only=True) as session:
        (held,) = stored_payments.unmatched(session)
    # The second report of the same money is not left to pay the next order.
    assert held.reference == "mail-1" and held.hold_reason == "possible duplicate"
    reasons = [e["reason"] for e in events(store, "payment.unmatched")]
    assert reasons == ["ambiguous", "ambiguous", "possible duplicate"]


def test_an_unmatched_event_says_why(store: Store) -> None:
    order(store, "83", "700.00", "ANNA K")
    assert bank(store, "700.00", "A K", "sbp-ak") is None
    (event,) = events(store, "payment.unmatched")
    assert event["reason"] == "name mismatch" and event["orders"] == ["83"]
    assert event["payment"]["reference"] == "sbp-ak"  # type: ignore[index]


def test_a_refused_confirmation_and_attach_store_and_bind_nothing(store: Store) -> None:
    order(store, "84", "900.00", "IVAN P")
    with pytest.raises(EvidenceError, match="does not fit"):
        report_payment(store, "90.00", "manual-84", at=NOW, order_id="84")
    with store.transaction(read_only=True) as session:
        assert session.scalars(select(PaymentRow)).all() == []
    assert bank(store, "950.00", "Ivan Petrov", "sbp-950") is None  # no order of 950
    with store.transaction(read_only=True) as session:
        (stray,) = stored_payments.unmatched(session)
    with pytest.raises(EvidenceError, match="does not fit order 84"):
        attach_evidence(store, payment_id=stray.id, order_id="84", now=NOW)
    with store.transaction(read_only=True) as session:
        assert stored_payments.get(session, stray.id).order_pk is None  # type: ignore[union-attr]


def test_paid_without_evidence_is_announced_once(store: Store) -> None:
    order(store, "85", "1000.00", "OLEG S")
    order(store, "86", "1000.00", "OLEG S", paid_at=NOW - timedelta(minutes=1))
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        first = remind_unconfirmed(session, account_id, now=NOW, remind_after=timedelta(minutes=5))
        again = remind_unconfirmed(session, account_id, now=NOW, remind_after=timedelta(minutes=5))
    assert first == [PAID_UNCONFIRMED] and again == []
    (event,) = events(store, PAID_UNCONFIRMED)
    assert event["order_id"] == "85" and event["waiting_minutes"] == 9


def test_a_second_report_written_with_another_scale_is_a_possible_duplicate(
    store: Store,
) -> None:
    """Amounts are stored as text: "5000.00" and "5000" (or "10000") are the same money."""
    order(store, "91", "5000.00", "IVAN PETROV")
    order(store, "92", "10000.00", "ANNA KOVALEVA")
    assert bank(store, "5000.00", "Ivan Petrov", "push-91") == "91"
    assert bank(store, "10000.00", "Anna Kovaleva", "push-92") == "92"
    order(store, "93", "5000.00", "IVAN PETROV")
    order(store, "94", "10000.00", "ANNA KOVALEVA")
    assert bank(store, "5000", "IVAN PETROV", "mail-91", source="mailbox") is None
    assert bank(store, "10000", "ANNA KOVALEVA", "mail-92", source="mailbox") is None
    with store.transaction(read_only=True) as session:
        held = stored_payments.unmatched(session)
    assert [(p.reference, p.hold_reason) for p in held] == [
        ("mail-91", "possible duplicate"),
        ("mail-92", "possible duplicate"),
    ]
