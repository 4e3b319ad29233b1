"""One transfer pays one order: where a piece of evidence goes, or why it is held.

Evidence binds only when exactly one order can own it. Orders that already
carry evidence of the same amount from the same person are candidates too: a
new report that fits one of them may be the same money reported again (by a
second source, or after the operator confirmed it by hand), so it is a
*possible duplicate*: stored, not bound, and announced (``payment.unmatched``)
until an operator attaches it (``p2pilot payments attach``).

Every decision here runs inside the caller's write transaction, so the choice
and the binding it leads to are one step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.clocks import CLOCK_SKEW
from p2pilot.evidence.candidates import open_candidates
from p2pilot.evidence.matching import (
    Evidence,
    HoldReason,
    MatchPolicy,
    best_match,
    name_similarity,
    normalize_name,
)
from p2pilot.store import payments as stored_payments
from p2pilot.store.accounts import account_ids
from p2pilot.store.events import append_event
from p2pilot.store.models import OrderRow
from p2pilot.store.orders import event_payload
from p2pilot.store.payments import BoundPayment, PaymentRecord
from p2pilot.store.types import decimal_text

PAYMENT_RECEIVED = "payment.received"
PAYMENT_UNMATCHED = "payment.unmatched"
# A report this close to bound evidence of the same amount and person may be the same
# money. A buyer who really pays twice the same amount within it is held for a human.
DUPLICATE_WINDOW = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Decision:
    """The order a piece of evidence pays, or why it pays none."""

    order: OrderRow | None
    hold: HoldReason | None
    reason: str
    related: tuple[str, ...] = ()  # the orders concerned (tied, duplicated, mismatched)


def same_person(payer: str, kyc_name: str, policy: MatchPolicy) -> bool:
    """Whether ``payer`` fits ``kyc_name`` by the configured name threshold."""
    return name_similarity(payer, kyc_name) >= policy.name_threshold


def possible_duplicate(
    session: Session, payment: PaymentRecord, policy: MatchPolicy, *, payer_name: str | None = None
) -> BoundPayment | None:
    """Bound evidence this report may repeat: same currency, amount and person, close in time.

    ``payer_name`` stands for the report's own (an operator's confirmation without
    one vouches for the order's buyer).
    """
    payer = payment.payer_name if payer_name is None else payer_name
    if not normalize_name(payer):
        return None  # no name: it can bind nothing on its own either
    nearby = stored_payments.bound_between(
        session,
        currency=payment.currency,
        since=payment.received_at - DUPLICATE_WINDOW,
        until=payment.received_at + DUPLICATE_WINDOW,
        amounts=policy.expected_range(payment.amount),
    )
    for bound in nearby:
        if bound.payment.id == payment.id:
            continue
        if payment.account_id is not None and bound.order_account_id != payment.account_id:
            continue
        if not policy.amount_fits(bound.payment.amount, payment.amount):
            continue
        # The earlier piece's payer, or (an operator's confirmation without one) the
        # buyer it paid for: either fitting means the same person may have paid once.
        if same_person(payer, bound.payment.payer_name, policy) or same_person(
            payer, bound.kyc_name, policy
        ):
            return bound
    return None


def duplicate_hold(
    session: Session, payment: PaymentRecord, policy: MatchPolicy, *, payer_name: str | None = None
) -> Decision | None:
    """The hold for ``payment`` when it may repeat bound evidence (:func:`possible_duplicate`)."""
    duplicate = possible_duplicate(session, payment, policy, payer_name=payer_name)
    if duplicate is None:
        return None
    return Decision(
        None,
        HoldReason.POSSIBLE_DUPLICATE,
        f"possible duplicate: evidence {duplicate.payment.reference}"
        f" ({decimal_text(duplicate.payment.amount)} {duplicate.payment.currency}"
        f" from {duplicate.payment.payer_name or duplicate.kyc_name!r})"
        f" already paid order {duplicate.order_id}",
        (duplicate.order_id,),
    )


def decide(session: Session, payment: PaymentRecord, policy: MatchPolicy) -> Decision:
    """The one open order ``payment`` pays, or the reason it is held."""
    duplicate = duplicate_hold(session, payment, policy)
    if duplicate is not None:
        return duplicate
    ids = account_ids(session)
    names = {v: k for k, v in ids.items()}
    evidence = Evidence(
        id=str(payment.id),
        amount=payment.amount,
        currency=payment.currency,
        payer_name=payment.payer_name,
        reference=payment.reference,
        received_at=payment.received_at,
        account=names.get(payment.account_id) if payment.account_id is not None else None,
    )
    result = best_match(evidence, open_candidates(session, payment.currency), policy)
    if result.order_id is None or result.account not in ids:
        return Decision(None, result.hold or HoldReason.NO_ORDER, result.reason, result.candidates)
    target = session.scalars(
        select(OrderRow).where(
            OrderRow.exchange_id == result.order_id, OrderRow.account_id == ids[result.account]
        )
    ).one()
    return Decision(target, None, result.reason, (result.order_id,))


def bind(
    session: Session, payment: PaymentRecord, order: OrderRow, *, source: str, at: datetime
) -> bool:
    """Bind ``payment`` to ``order`` and announce ``payment.received``; False if either is taken."""
    if not stored_payments.match(session, payment.id, order.id, at=at):
        return False
    names = {v: k for k, v in account_ids(session).items()}
    payload = event_payload(names[order.account_id], order) | {
        "evidence": {
            "payment_id": payment.id,
            "reference": payment.reference,
            "amount": decimal_text(payment.amount),
            "currency": payment.currency,
            "payer_name": payment.payer_name,
            "source": source,
        }
    }
    append_event(
        session,
        account_id=order.account_id,
        order_pk=order.id,
        type=PAYMENT_RECEIVED,
        payload=payload,
        at=at,
    )
    return True


def hold(session: Session, payment: PaymentRecord, decision: Decision, *, at: datetime) -> None:
    """Keep ``payment`` unbound with its reason; announce it when the reason is new."""
    assert decision.hold is not None
    if payment.hold_reason == decision.hold and payment.note == decision.reason:
        return
    stored_payments.hold(session, payment.id, decision.hold, decision.reason)
    if payment.hold_reason == decision.hold:
        return  # same reason, new wording (another order now fits): no new alarm
    ids = account_ids(session)
    names = {v: k for k, v in ids.items()}
    for account_id in _concerned_accounts(session, payment, decision.related, ids.values()):
        append_event(
            session,
            account_id=account_id,
            order_pk=None,
            type=PAYMENT_UNMATCHED,
            payload={
                "account": names.get(account_id),
                "reason": str(decision.hold),
                "detail": decision.reason,
                "orders": list(decision.related),
                "payment": {
                    "id": payment.id,
                    "reference": payment.reference,
                    "amount": decimal_text(payment.amount),
                    "currency": payment.currency,
                    "payer_name": payment.payer_name,
                    "source": payment.source,
                    "received_at": payment.received_at.isoformat(),
                },
            },
            at=at,
        )


def _concerned_accounts(
    session: Session, payment: PaymentRecord, related: tuple[str, ...], every: Iterable[int]
) -> list[int]:
    """Whose operator hears of held evidence: its account, its orders' accounts, or all."""
    if payment.account_id is not None:
        return [payment.account_id]
    if related:
        found = session.scalars(
            select(OrderRow.account_id).where(OrderRow.exchange_id.in_(related)).distinct()
        )
        accounts = sorted(set(found))
        if accounts:
            return accounts
    return sorted(every)


def waiting_for(
    session: Session, order: OrderRow, policy: MatchPolicy, *, include_held: bool
) -> list[PaymentRecord]:
    """Unbound evidence that could pay ``order``: after it was created, amount and account fit."""
    return [
        payment
        for payment in stored_payments.unmatched(
            session, currency=order.currency, received_since=order.created_at - CLOCK_SKEW
        )
        if payment.account_id in (None, order.account_id)
        and policy.amount_fits(order.amount, payment.amount)
        and (include_held or payment.hold_reason != HoldReason.POSSIBLE_DUPLICATE)
    ]


def bind_waiting(
    session: Session, order: OrderRow, policy: MatchPolicy, *, at: datetime
) -> PaymentRecord | None:
    """Bind evidence that arrived before ``order`` could take it, when it now fits only it.

    A possible duplicate waits for an operator; any other waiting piece is decided
    again by the same rules as on arrival (an order that tied with this one may be
    gone), and one that now turns out to repeat bound evidence is held as such.
    """
    bound: PaymentRecord | None = None
    for payment in waiting_for(session, order, policy, include_held=False):
        decision = decide(session, payment, policy)
        if bound is None and decision.order is not None and decision.order.id == order.id:
            if bind(session, payment, order, source=payment.source, at=at):
                bound = stored_payments.for_order(session, order.id)
        elif decision.hold is not None:
            # After a binding, a second report of the same money is a possible duplicate.
            hold(session, payment, decision, at=at)
    return bound
