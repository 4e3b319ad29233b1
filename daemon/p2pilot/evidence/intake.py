"""Payment evidence comes in: store it once, bind it to the one order it pays, say so.

:func:`record_evidence` is the one entry point every source calls: the operator
(``p2pilot orders confirm-payment``), the bank hook (``POST /v1/payments``) and
any later source. One transfer is one piece of evidence: a reference is stored
once (a replay is refused), a piece binds to at most one order and only when
exactly one can own it (:mod:`p2pilot.evidence.binding`), and a
``payment.received`` or ``payment.unmatched`` event is written in the same
transaction.

An operator's confirmation names its order. When unbound evidence already fits
that order it is adopted instead of adding a second piece for the same money;
a confirmation that may repeat evidence already bound to another order is
stored held (a possible duplicate) for ``payments attach``; one that cannot
bind otherwise stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.evidence import binding
from p2pilot.evidence.matching import DEFAULT_POLICY, HoldReason, MatchPolicy
from p2pilot.records import Side
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import account_ids
from p2pilot.store.engine import in_own_transaction
from p2pilot.store.models import OrderRow
from p2pilot.store.payments import PaymentRecord

PAYMENT_RECEIVED = binding.PAYMENT_RECEIVED
OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of one piece of evidence."""

    stored: bool  # False: nothing new was stored (a replay, or an adopted piece)
    payment_id: int | None
    order_id: str | None  # the exchange order it was bound to
    reason: str  # why it was (not) matched
    hold: HoldReason | None = None  # why it is held, when it is
    adopted: bool = False  # the operator's confirmation took evidence already stored


class EvidenceError(ValueError):
    """The evidence cannot be accepted as given (unknown order or account, does not fit)."""


@dataclass(frozen=True, slots=True)
class _Report:
    """One report of money received, as its source gave it."""

    amount: Decimal
    currency: str
    payer_name: str
    reference: str
    received_at: datetime
    source: str

    def store(self, session: Session, account_id: int | None, at: datetime) -> PaymentRecord | None:
        """Add it as unbound evidence; None when its reference was already reported."""
        return stored_payments.add_payment(
            session,
            amount=self.amount,
            currency=self.currency.upper(),
            payer_name=self.payer_name,
            reference=self.reference,
            received_at=self.received_at,
            source=self.source,
            account_id=account_id,
            at=at,
        )


def record_evidence_in(
    session: Session,
    *,
    amount: Decimal,
    currency: str,
    payer_name: str,
    reference: str,
    received_at: datetime,
    source: str,
    now: datetime,
    account: str | None = None,
    order_id: str | None = None,
    policy: MatchPolicy = DEFAULT_POLICY,
) -> IntakeResult:
    """Store evidence and bind it; ``order_id`` is the operator naming the order it pays.

    Raises :class:`EvidenceError`, with nothing stored once the caller rolls back, when
    the evidence cannot be taken as given. The operator layer calls it inside its own
    transaction, which writes its audit row with it; every other source calls
    :func:`record_evidence`.
    """
    report = _Report(amount, currency, payer_name, reference, received_at, source)
    account_id = _account_id(session, account)
    if order_id is not None:
        target = _target_order(session, order_id, account_id)
        return _confirm(session, target, report, now=now, policy=policy)
    payment = report.store(session, account_id, now)
    if payment is None:
        return IntakeResult(False, None, None, f"reference {reference!r} was already reported")
    decision = binding.decide(session, payment, policy)
    if decision.order is None:
        binding.hold(session, payment, decision, at=now)
        return IntakeResult(True, payment.id, None, decision.reason, hold=decision.hold)
    if not binding.bind(session, payment, decision.order, source=source, at=now):
        # Candidates carry no evidence, in this very transaction: cannot happen.
        raise EvidenceError(f"order {decision.order.exchange_id} already has evidence")
    return IntakeResult(True, payment.id, decision.order.exchange_id, decision.reason)


def attach_evidence_in(
    session: Session,
    *,
    payment_id: int,
    order_id: str,
    now: datetime,
    account: str | None = None,
    policy: MatchPolicy = DEFAULT_POLICY,
) -> IntakeResult:
    """The operator binds a held (or any unbound) piece of evidence to the order it pays.

    The money must still fit the order (currency and amount); the payer's name is
    the operator's call, and the release guards still compare it with the buyer's.
    Inside the caller's transaction; roll back when it raises.
    """
    payment = unbound_evidence(session, payment_id)
    target = _target_order(session, order_id, _account_id(session, account))
    if payment.account_id is not None and payment.account_id != target.account_id:
        raise EvidenceError(f"evidence {payment_id} was reported for another account")
    _check_fits(target, payment.amount, payment.currency, policy)
    _check_free(session, target)
    if not binding.bind(session, payment, target, source=payment.source, at=now):
        raise EvidenceError(f"order {order_id} already has payment evidence")
    return IntakeResult(False, payment.id, target.exchange_id, "attached by the operator")


# The same, each in a transaction of its own: for every caller but the operator layer.
record_evidence = in_own_transaction(record_evidence_in)
attach_evidence = in_own_transaction(attach_evidence_in)


def unbound_evidence(
    session: Session, payment_id: int, *, account: str | None = None
) -> PaymentRecord:
    """Evidence no order has taken yet: what an operator may attach or dismiss.

    Raises :class:`EvidenceError` when it is unknown, already paid an order, or
    was reported for another account than ``account`` (when named).
    """
    payment = stored_payments.get(session, payment_id)
    if payment is None:
        raise EvidenceError(f"no payment evidence {payment_id}")
    if payment.order_pk is not None:
        paid = session.get(OrderRow, payment.order_pk)
        raise EvidenceError(
            f"evidence {payment_id} already paid order {paid.exchange_id if paid else '?'}"
        )
    account_id = _account_id(session, account)
    if None not in (account_id, payment.account_id) and payment.account_id != account_id:
        raise EvidenceError(f"evidence {payment_id} was reported for another account")
    return payment


def _confirm(
    session: Session, target: OrderRow, report: _Report, *, now: datetime, policy: MatchPolicy
) -> IntakeResult:
    # The operator names the order, but the money must still fit it: the release
    # guard trusts that every bound piece of evidence was checked.
    _check_fits(target, report.amount, report.currency, policy)
    _check_free(session, target)
    adopted = _adoptable(session, target, report.payer_name, policy)
    if adopted is not None:
        binding.bind(session, adopted, target, source=adopted.source, at=now)
        return IntakeResult(
            False,
            adopted.id,
            target.exchange_id,
            f"confirmed with evidence {adopted.reference} already received for this order",
            adopted=True,
        )
    payment = report.store(session, target.account_id, now)
    if payment is None:
        raise EvidenceError(f"reference {report.reference!r} was already reported")
    # The operator may have seen money the bank already reported for another order:
    # held like any second report of it, until `payments attach` says it is distinct.
    vouched_for = report.payer_name or target.counterparty_real_name or ""
    duplicate = binding.duplicate_hold(session, payment, policy, payer_name=vouched_for)
    if duplicate is not None:
        binding.hold(session, payment, duplicate, at=now)
        return IntakeResult(True, payment.id, None, duplicate.reason, hold=duplicate.hold)
    if not binding.bind(session, payment, target, source=report.source, at=now):
        raise EvidenceError(f"order {target.exchange_id} already has payment evidence")
    return IntakeResult(
        True, payment.id, target.exchange_id, "confirmed by the operator for this order"
    )


def _adoptable(
    session: Session, order: OrderRow, payer_name: str, policy: MatchPolicy
) -> PaymentRecord | None:
    """Unbound evidence that already pays ``order``: the same money the operator saw.

    A possible duplicate is not taken this way: it may be money that already paid
    another order, and only ``payments attach`` (a deliberate choice) binds it.
    """
    kyc = order.counterparty_real_name or ""
    for payment in binding.waiting_for(session, order, policy, include_held=False):
        if binding.same_person(payment.payer_name, kyc, policy) or (
            payer_name and binding.same_person(payment.payer_name, payer_name, policy)
        ):
            return payment
    return None


def _check_fits(order: OrderRow, amount: Decimal, currency: str, policy: MatchPolicy) -> None:
    if order.side != int(Side.SELL):
        raise EvidenceError(f"order {order.exchange_id} is a buy order: we pay, not the buyer")
    if currency.upper() != order.currency.upper():
        raise EvidenceError(
            f"evidence is in {currency.upper()}, order {order.exchange_id} is in {order.currency}"
        )
    if not policy.amount_fits(order.amount, amount):
        raise EvidenceError(
            f"evidence amount {amount} {currency.upper()} does not fit order"
            f" {order.exchange_id} ({order.amount} {order.currency})"
        )


def _check_free(session: Session, order: OrderRow) -> None:
    existing = stored_payments.for_order(session, order.id)
    if existing is not None:
        raise EvidenceError(
            f"order {order.exchange_id} already has payment evidence {existing.reference}"
            f" ({existing.amount} {existing.currency})"
        )


def _account_id(session: Session, account: str | None) -> int | None:
    if account is None:
        return None
    ids = account_ids(session)
    if account not in ids:
        raise EvidenceError(f"unknown account {account!r}")
    return ids[account]


def _target_order(session: Session, order_id: str, account_id: int | None) -> OrderRow:
    statement = select(OrderRow).where(OrderRow.exchange_id == order_id)
    if account_id is not None:
        statement = statement.where(OrderRow.account_id == account_id)
    rows = list(session.scalars(statement))
    if not rows:
        raise EvidenceError(f"no stored order {order_id}")
    if len(rows) > 1:
        raise EvidenceError(f"order {order_id} exists on several accounts: name one")
    return rows[0]
