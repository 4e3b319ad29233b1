"""``order.paid_unconfirmed``: the buyer clicked "paid" a while ago and no money was seen.

Written once per order by the orders job, in its own transaction, so a notify
rule can wake the operator (the release waits for evidence and would otherwise
wait in silence).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from p2pilot.records import OrderStatus, Side
from p2pilot.store.accounts import account_name
from p2pilot.store.events import append_event
from p2pilot.store.models import OrderEventRow, OrderRow, PaymentRow
from p2pilot.store.orders import event_payload

PAID_UNCONFIRMED = "order.paid_unconfirmed"
DEFAULT_REMIND_AFTER = timedelta(minutes=5)


def remind_unconfirmed(
    session: Session, account_id: int, *, now: datetime, remind_after: timedelta
) -> list[str]:
    """Announce this account's sell orders paid ``remind_after`` ago without evidence."""
    due = now - remind_after
    rows = session.scalars(
        select(OrderRow).where(
            OrderRow.account_id == account_id,
            OrderRow.side == int(Side.SELL),
            OrderRow.status == int(OrderStatus.PAID),
            OrderRow.paid_at.is_not(None),
            OrderRow.paid_at <= due,
            ~exists().where(PaymentRow.order_id == OrderRow.id),
            ~exists().where(
                OrderEventRow.order_id == OrderRow.id, OrderEventRow.type == PAID_UNCONFIRMED
            ),
        )
    ).all()
    if not rows:
        return []
    name = account_name(session, account_id)
    for row in rows:
        assert row.paid_at is not None
        waited = int((now - row.paid_at).total_seconds() // 60)
        append_event(
            session,
            account_id=account_id,
            order_pk=row.id,
            type=PAID_UNCONFIRMED,
            payload=event_payload(name, row) | {"waiting_minutes": waited},
            at=now,
        )
    return [PAID_UNCONFIRMED] * len(rows)
