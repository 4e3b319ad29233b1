"""The daemon's side of approvals: announce a release that waits, and know when to look again.

A release that every other guard allows but an operator must clear (approve,
lift a hold, resume the account) is left ``awaiting`` in the ledger and
announced once as ``order.release_pending``. The operator commands only record
their word (:mod:`p2pilot.store.approvals`); the engine's retry pass asks
:func:`ready` of every awaiting row and decides again, every guard afresh, those
whose operators' word now lets them go (or whose order is over).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from p2pilot.rules.guards import ReleaseLimits
from p2pilot.store import approvals, releases
from p2pilot.store.accounts import account_name
from p2pilot.store.events import append_event
from p2pilot.store.ledger import ActionRecord
from p2pilot.store.models import OrderEventRow, OrderRow
from p2pilot.store.orders import FINAL_CODES, event_payload

RELEASE_PENDING = "order.release_pending"
RELEASE_HELD = "order.release_held"
AWAITING_APPROVAL = "awaiting approval"  # the ledger detail's "decision"


def announce_pending(
    session: Session, *, account_id: int, order_pk: int, extra: dict[str, Any]
) -> bool:
    """Write ``order.release_pending`` for this order unless it was written before.

    Once per order, whichever release row waits and however often it is decided
    again: a notify rule wakes the operator once, not on every retry pass.
    """
    seen = session.scalar(
        select(
            exists().where(
                OrderEventRow.order_id == order_pk, OrderEventRow.type == RELEASE_PENDING
            )
        )
    )
    row = session.get(OrderRow, order_pk)
    if seen or row is None:
        return False
    append_event(
        session,
        account_id=account_id,
        order_pk=order_pk,
        type=RELEASE_PENDING,
        payload=event_payload(account_name(session, account_id), row) | extra,
    )
    return True


def ready(session: Session, record: ActionRecord, limits: ReleaseLimits) -> bool:
    """Whether an awaiting release row should be decided again now.

    Yes when its order is over or released (it stands down), or when the
    operators' word lets it go: account not paused, order not held, enough
    approvals of the order's present amount. Everything else waits, at the cost
    of one read of the store per pass and no call to the exchange.
    """
    if record.order_pk is None:
        return True
    order = session.get(OrderRow, record.order_pk)
    if order is None or order.status in FINAL_CODES:
        return True
    if releases.release_state(session, order.id) in ("sent", "succeeded", "unknown"):
        return True
    word = approvals.operator_word(
        session, account_id=record.account_id, order_pk=order.id, amount=order.amount
    )
    if word.paused is not None or word.hold is not None:
        return False
    return len(word.approvers) >= limits.approvals_needed(order.amount, order.currency)
