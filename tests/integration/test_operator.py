"""The operator commands' layer on SQLite and PostgreSQL: preconditions, effects, audit.

Every command is called as a front end calls it (an ``Operator`` and the
``OperatorCommands`` over a real store); an awaiting release is a ledger row as
the release handler leaves it. What the daemon then does with an approval is
tests/integration/test_approvals.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from p2pilot.config import Config, parse_config
from p2pilot.operator import Operator, OperatorCommands
from p2pilot.store import approvals, audit, releases
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.models import OrderEventRow

from ..evidence import stored_payment
from ..orderrows import await_approval, sell_order_row

NOW = datetime.now(UTC)
ALICE = Operator("alice", "cli")
BOB = Operator("bob", "console")


def desk_config(**safety: Any) -> Config:
    return parse_config(
        {
            "accounts": [{"name": "desk", "api_key": "k", "api_secret": "s"}],
            "safety": {
                "release_mode": "approve",
                "release_max_amount": {"RUB": "500000"},
                "release_daily_limit": {"RUB": "1000000"},
                **safety,
            },
        }
    )


@pytest.fixture
def commands(store: Store) -> OperatorCommands:
    return OperatorCommands(store, desk_config(two_person_above={"RUB": "200000"}))


def stored_order(store: Store, exchange_id: str, amount: str = "5000.00", **changes: Any) -> int:
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        row = sell_order_row(account_id, exchange_id, amount, **changes)
        session.add(row)
        session.flush()
        return row.id


def awaiting(store: Store, exchange_id: str, amount: str = "5000.00") -> tuple[int, int]:
    """A paid order whose release waits for an operator: (order pk, action id)."""
    order_pk = stored_order(store, exchange_id, amount)
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        action_id = await_approval(session, account_id, order_pk, exchange_id, amount, NOW)
    return order_pk, action_id


def unbound_payment(
    store: Store, reference: str, *, payer: str = "", account: str | None = None
) -> int:
    """The id of 5000.00 RUB of evidence no order has taken (reported for ``account``, if
    named)."""
    with store.transaction() as session:
        account_id = ensure_account(session, account) if account is not None else None
        return stored_payment(
            session, "5000.00", reference, payer=payer, source="http", account_id=account_id, at=NOW
        )


def audit_rows(store: Store) -> list[audit.AuditRecord]:
    with store.transaction(read_only=True) as session:
        return list(reversed(audit.recent(session)))


def test_an_approval_is_recorded_with_its_audit_row(
    store: Store, commands: OperatorCommands
) -> None:
    order_pk, _ = awaiting(store, "7001")
    outcome = commands.approve(ALICE, "7001")
    assert outcome.ok and outcome.message == "approved, waiting for the daemon"
    assert outcome.account == "desk" and outcome.details["approvers"] == ["alice"]
    with store.transaction(read_only=True) as session:
        assert approvals.standing(session, order_pk).approvers == ("alice",)
    [row] = audit_rows(store)
    assert (row.operator, row.source, row.command, row.account, row.order_id, row.outcome) == (
        "alice",
        "cli",
        "approve",
        "desk",
        "7001",
        "ok",
    )
    assert row.id == outcome.audit_id and row.detail == outcome.message


def test_refusals_say_why_and_are_audited_without_an_effect(
    store: Store, commands: OperatorCommands
) -> None:
    stored_order(store, "7002")  # paid, but no release waits for it
    stored_order(store, "7003", status=40)
    order_pk = stored_order(store, "7004", status=50)
    _, action_id = awaiting(store, "7005")
    with store.transaction() as session:
        account_id = ensure_account(session, "desk")
        assert releases.claim_release(
            session,
            account_id=account_id,
            order_pk=order_pk,
            action_id=action_id,
            amount=Decimal("5000.00"),
            currency="RUB",
            counterparty_user_id=None,
            at=NOW,
        )
        releases.settle_release(session, order_pk, "succeeded", action_id=action_id, at=NOW)
    cases = {
        "7002": "refused: not awaiting approval (no release decided yet)",
        "7003": "refused: order cancelled",
        "9999": "refused: no stored order 9999",
    }
    for order_id, message in cases.items():
        outcome = commands.approve(ALICE, order_id)
        assert not outcome.ok and outcome.message == message, order_id
    already = commands.approve(ALICE, "7004")
    assert already.ok and already.message == "already released"
    rows = audit_rows(store)
    assert [(r.order_id, r.outcome) for r in rows] == [
        ("7002", "refused"),
        ("7003", "refused"),
        ("9999", "refused"),
        ("7004", "ok"),
    ]
    assert rows[0].detail == cases["7002"]
    with store.transaction(read_only=True) as session:
        assert not any(approvals.standing(session, pk).approvals for pk in range(1, order_pk + 5))


def test_two_person_above_needs_two_different_operators(
    store: Store, commands: OperatorCommands
) -> None:
    order_pk, _ = awaiting(store, "7010", "250000.00")
    first = commands.approve(ALICE, "7010")
    assert first.ok and first.details["state"] == "approved_partly"
    assert first.message.startswith("approved (1 of 2), waiting for another operator")
    again = commands.approve(Operator("alice", "telegram"), "7010")  # same name, other source
    assert again.ok and again.details["approvers"] == ["alice"]
    second = commands.approve(BOB, "7010")
    assert second.ok and second.message == "approved, waiting for the daemon"
    with store.transaction(read_only=True) as session:
        assert approvals.standing(session, order_pk).approvers == ("alice", "bob")


def test_a_hold_voids_approvals_refuses_new_ones_until_lifted(
    store: Store, commands: OperatorCommands
) -> None:
    order_pk, _ = awaiting(store, "7020")
    assert commands.approve(ALICE, "7020").ok
    held = commands.hold(BOB, "7020", "buyer wrote that the card is not theirs")
    assert held.ok and held.message == "held"
    with store.transaction(read_only=True) as session:
        standing = approvals.standing(session, order_pk)
        events = session.scalars(
            select(OrderEventRow).where(OrderEventRow.type == "order.release_held")
        ).all()
    assert standing.approvals == () and standing.hold is not None
    assert [(e.order_id, e.payload["operator"], e.payload["reason"]) for e in events] == [
        (order_pk, "bob", "buyer wrote that the card is not theirs")
    ]
    refused = commands.approve(ALICE, "7020")
    assert not refused.ok
    assert refused.message.startswith("refused: held by bob: buyer wrote that the card")
    lifted = commands.approve(ALICE, "7020", lift_hold=True)
    assert lifted.ok
    with store.transaction(read_only=True) as session:
        standing = approvals.standing(session, order_pk)
    assert standing.hold is None and standing.approvers == ("alice",)
    assert not commands.hold(BOB, "7020", "  ").ok  # a hold says why


def test_a_paused_account_refuses_approvals_until_resumed(
    store: Store, commands: OperatorCommands
) -> None:
    awaiting(store, "7030")
    assert commands.pause(ALICE, "desk", reason="bank app down").message == "paused"
    assert commands.pause(BOB, "desk").message == "already paused"
    refused = commands.approve(BOB, "7030")
    assert not refused.ok and refused.message.startswith("refused: account desk paused by alice")
    assert commands.resume(BOB, "desk").message == "resumed"
    assert commands.resume(BOB, "desk").message == "not paused"
    assert commands.approve(BOB, "7030").ok
    unknown = commands.pause(ALICE, "nosuch")
    assert not unknown.ok and unknown.message == "refused: no account named 'nosuch' in the config"
    assert [r.command for r in audit_rows(store)] == [
        "pause",
        "pause",
        "approve",
        "resume",
        "resume",
        "approve",
        "pause",
    ]


def test_an_order_changed_since_it_began_waiting_is_refused(
    store: Store, commands: OperatorCommands
) -> None:
    order_pk, _ = awaiting(store, "7040", "5000.00")
    with store.transaction() as session:
        from p2pilot.store.models import OrderRow

        row = session.get(OrderRow, order_pk)
        assert row is not None
        row.amount = Decimal("5500.00")
    outcome = commands.approve(ALICE, "7040")
    assert not outcome.ok
    assert outcome.message == (
        "refused: order changed: amount 5500.00 RUB, 5000.00 when it began waiting"
    )


def test_evidence_and_blacklist_commands_are_audited(
    store: Store, commands: OperatorCommands
) -> None:
    stored_order(store, "7050", "5000.00")
    too_much = commands.confirm_payment(ALICE, "7050", amount=Decimal("9000"))
    assert not too_much.ok and "does not fit order 7050" in too_much.message
    confirmed = commands.confirm_payment(ALICE, "7050", payer="Oleg Smirnov")
    assert confirmed.ok and confirmed.details["matched"] is True
    payment_id = unbound_payment(store, "bank-1", payer="Oleg Smirnov")
    taken = commands.attach(BOB, payment_id, "7050")
    assert not taken.ok and "already has payment evidence" in taken.message
    added = commands.blacklist_add(BOB, "nickname", "scammer", reason="chargeback")
    assert added.ok and added.message.endswith("nickname 'scammer' (chargeback)")
    assert not commands.blacklist_add(BOB, "nickname", "scammer").ok
    removed = commands.blacklist_remove(ALICE, added.details["entry"]["id"])
    assert removed.ok
    assert not commands.blacklist_remove(ALICE, 999).ok
    rows = audit_rows(store)
    assert [(r.command, r.outcome, r.operator) for r in rows] == [
        ("confirm-payment", "refused", "alice"),
        ("confirm-payment", "ok", "alice"),
        ("attach", "refused", "bob"),
        ("blacklist-add", "ok", "bob"),
        ("blacklist-add", "refused", "bob"),
        ("blacklist-remove", "ok", "alice"),
        ("blacklist-remove", "refused", "alice"),
    ]
    # The refused confirmation stored nothing: the one payment is the confirmed one.
    with store.transaction(read_only=True) as session:
        assert len(stored_payments.all_payments(session)) == 2


def test_an_operator_names_who_and_where() -> None:
    with pytest.raises(ValueError, match="source must be one of cli, console, telegram"):
        Operator("alice", "email")
    with pytest.raises(ValueError, match="1 to 100 characters"):
        Operator(" ", "cli")


def test_ignoring_unmatched_evidence_changes_nothing_and_is_audited(
    store: Store, commands: OperatorCommands
) -> None:
    stored_order(store, "7060", "5000.00")
    with store.transaction() as session:
        ensure_account(session, "other")
    payment_id = unbound_payment(store, "bank-unmatched", account="desk")
    ignored = commands.ignore(BOB, payment_id)
    assert ignored.ok and ignored.message == f"ignored evidence {payment_id} (nothing changed)"
    assert ignored.account == "desk" and ignored.details == {"payment_id": payment_id}
    assert not commands.ignore(BOB, payment_id, account="other").ok
    assert commands.attach(ALICE, payment_id, "7060").ok  # ignored evidence stays attachable
    bound = commands.ignore(BOB, payment_id)
    assert bound.message == f"refused: evidence {payment_id} already paid order 7060"
    assert commands.ignore(BOB, 999).message == "refused: no payment evidence 999"
    rows = audit_rows(store)
    assert [(r.command, r.outcome, r.operator, r.account) for r in rows] == [
        ("ignore", "ok", "bob", "desk"),
        ("ignore", "refused", "bob", "other"),
        ("attach", "ok", "alice", None),
        ("ignore", "refused", "bob", None),
        ("ignore", "refused", "bob", None),
    ]


def test_the_approval_queue_lists_each_waiting_release_once_oldest_first(
    store: Store, commands: OperatorCommands
) -> None:
    awaiting(store, "7070")
    awaiting(store, "7071")
    stored_order(store, "7072")  # paid, but no release waits for it
    assert commands.hold(ALICE, "7071", "buyer disputes").ok
    queue = commands.approval_queue()
    assert [(q["id"], q["account"], q["why"]) for q in queue] == [
        ("7070", "desk", "operator_approval: waiting"),
        ("7071", "desk", "operator_approval: waiting"),
    ]
    assert queue[0]["standing"] == {"approvals": [], "hold": None}
    assert queue[1]["standing"]["hold"]["reason"] == "buyer disputes"


def test_a_confirmation_of_money_already_bound_to_another_order_is_held(
    store: Store, commands: OperatorCommands
) -> None:
    """The bank bound Ivan's 5000 to 7072: a confirmation of 7071 may be that money again."""
    first = stored_order(store, "7071", counterparty_real_name="IVAN PETROV")
    stored_order(store, "7072", counterparty_real_name="IVAN PETROV")
    stored_order(store, "7073", counterparty_real_name="IVAN PETROV")
    reported = unbound_payment(store, "sbp-5000", payer="Ivan Petrov")
    assert commands.attach(BOB, reported, "7072").ok  # as the bank hook binds it
    held = commands.confirm_payment(ALICE, "7071", amount=Decimal("5000"), payer="Ivan Petrov")
    assert held.ok and held.details["matched"] is False, held.message
    payment_id = held.details["payment_id"]
    assert "possible duplicate" in held.message and "already paid order 7072" in held.message
    assert f"p2pilot payments attach {payment_id} 7071" in held.message
    # No payer named: the buyer's own name is the payer the operator vouches for.
    assert commands.confirm_payment(ALICE, "7073").details["matched"] is False
    with store.transaction(read_only=True) as session:
        waiting = stored_payments.unmatched(session)
        assert stored_payments.for_order(session, first) is None
    assert [(p.reference, p.hold_reason) for p in waiting] == [
        ("manual-7071", "possible duplicate"),
        ("manual-7073", "possible duplicate"),
    ]
    # The operator's word that it is a second, distinct transfer: the existing attach.
    assert commands.attach(ALICE, payment_id, "7071").ok
    with store.transaction(read_only=True) as session:
        bound = stored_payments.for_order(session, first)
    assert bound is not None and bound.reference == "manual-7071"
