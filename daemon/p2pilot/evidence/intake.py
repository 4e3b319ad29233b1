"""Payment evidence comes in: store it once, bind it to the one order it pays, say so.

Evidence arrives from the operator (``p2pilot orders confirm-payment``) or a bank
hook (``POST /v1/payments``). It is stored under its unique reference (a replay
is refused), matched to at most one open sell order, and a ``payment.received``
event is written for that order in the same transaction. Evidence that fits no
order yet is kept; the rule engine binds it when a fitting order is paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.evidence.candidates import open_candidates
from p2pilot.evidence.matching import DEFAULT_POLICY, Evidence, MatchPolicy, best_match
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import account_ids
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event
from p2pilot.store.models import OrderRow
from p2pilot.store.orders import event_payload
from p2pilot.store.types import decimal_text

PAYMENT_RECEIVED = "payment.received"


@dataclass(frozen=True, slots=True)
class IntakeResult:
    """What became of one piece of evidence."""

    stored: bool  # False: the reference was reported before
    payment_id: int | None
    order_id: str | None  # the exchange order it was bound to
    reason: str  # why it was (not) matched


class EvidenceError(ValueError):
    """The evidence cannot be accepted as given (unknown order or account)."""


def record_evidence(
    store: Store,
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
    """Store evidence and match it; ``order_id`` binds it to that order directly (the operator)."""
    with store.transaction() as session:
        ids = account_ids(session)
        account_id = None
        if account is not None:
            if account not in ids:
                raise EvidenceError(f"unknown account {account!r}")
            account_id = ids[account]
        target = _target_order(session, order_id, account_id) if order_id else None
        if target is not None:
            # The operator names the order, but the money must still fit it: the
            # release guard trusts that every matched piece of evidence was checked.
            _check_fits(target, amount, currency, policy)
        payment = stored_payments.add_payment(
            session,
            amount=amount,
            currency=currency.upper(),
            payer_name=payer_name,
            reference=reference,
            received_at=received_at,
            source=source,
            account_id=account_id if target is None else target.account_id,
            at=now,
        )
        if payment is None:
            return IntakeResult(False, None, None, f"reference {reference!r} was already reported")
        if target is None:
            candidates = open_candidates(session, payment.currency)
            names = {v: k for k, v in ids.items()}
            evidence = Evidence(
                id=str(payment.id),
                amount=payment.amount,
                currency=payment.currency,
                payer_name=payer_name,
                reference=reference,
                received_at=received_at,
                account=names.get(account_id) if account_id is not None else None,
            )
            result = best_match(evidence, candidates, policy)
            if result.order_id is None:
                return IntakeResult(True, payment.id, None, result.reason)
            target = session.scalars(
                select(OrderRow).where(
                    OrderRow.exchange_id == result.order_id,
                    OrderRow.account_id == ids[result.account or ""]
                    if result.account in ids
                    else OrderRow.exchange_id == result.order_id,
                )
            ).first()
            if target is None:
                return IntakeResult(True, payment.id, None, "matched order vanished")
            reason = result.reason
        else:
            reason = "confirmed by the operator for this order"
        if not stored_payments.match(session, payment.id, target.id, at=now):
            return IntakeResult(True, payment.id, None, "the order already has payment evidence")
        names = {v: k for k, v in ids.items()}
        payload = event_payload(names[target.account_id], target) | {
            "evidence": {
                "reference": reference,
                "amount": decimal_text(payment.amount),
                "currency": payment.currency,
                "payer_name": payer_name,
                "source": source,
            }
        }
        append_event(
            session,
            account_id=target.account_id,
            order_pk=target.id,
            type=PAYMENT_RECEIVED,
            payload=payload,
            at=now,
        )
        return IntakeResult(True, payment.id, target.exchange_id, reason)


def _check_fits(order: OrderRow, amount: Decimal, currency: str, policy: MatchPolicy) -> None:
    if currency.upper() != order.currency.upper():
        raise EvidenceError(
            f"evidence is in {currency.upper()}, order {order.exchange_id} is in {order.currency}"
        )
    if not policy.amount_fits(order.amount, amount):
        raise EvidenceError(
            f"evidence amount {amount} {currency.upper()} does not fit order"
            f" {order.exchange_id} ({order.amount} {order.currency})"
        )


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
