"""Evidence that arrived before its order could take it: bind it late, or say why it waits.

The rules engine asks here twice: when an event about an order has no evidence
bound yet (maybe a transfer reported before the buyer pressed "paid" fits now),
and when a release is refused for want of evidence (the operator reads which
pieces were held, and why, in the guard table).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

from p2pilot.evidence import binding
from p2pilot.evidence.candidates import OPEN_ORDER_STATUSES
from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.logging import get_logger
from p2pilot.records import Side
from p2pilot.store.engine import Store
from p2pilot.store.models import OrderRow
from p2pilot.store.payments import PaymentRecord

log = get_logger(__name__)


def match_waiting(
    store: Store,
    *,
    account: str,
    order_pk: int,
    order_id: str,
    side: Side,
    status: int,
    policy: MatchPolicy,
    clock: Callable[[], datetime],
) -> PaymentRecord | None:
    """Bind unmatched evidence that fits this order (one that arrived before it was paid).

    ``side`` and ``status`` are the order as last read: only our open sell orders
    take evidence, and any other order costs no write transaction.
    """
    if side != Side.SELL or status not in OPEN_ORDER_STATUSES:
        return None
    with store.transaction() as session:
        row = session.get(OrderRow, order_pk)
        if row is None:
            return None
        bound = binding.bind_waiting(session, row, policy, at=clock())
    if bound is not None:
        log.info("payment.matched", account=account, order_id=order_id, reference=bound.reference)
    return bound


def held_for(session: Session, order: OrderRow) -> list[PaymentRecord]:
    """Unbound evidence that fits ``order``, held or not, as ``orders show`` lists it."""
    return binding.waiting_for(session, order, DEFAULT_POLICY, include_held=True)


def held_notes(session: Session, order_pk: int, policy: MatchPolicy) -> tuple[str, ...]:
    """Unbound evidence that fits the order, each with why it is not bound, for a guard table."""
    row = session.get(OrderRow, order_pk)
    if row is None:
        return ()
    return tuple(
        _held_note(p) for p in binding.waiting_for(session, row, policy, include_held=True)
    )


def _held_note(payment: PaymentRecord) -> str:
    why = payment.note or payment.hold_reason or "not bound"
    return f"evidence #{payment.id} {payment.reference} ({why})"
