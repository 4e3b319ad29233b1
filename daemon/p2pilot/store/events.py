"""The outbox: events written with the change that caused them, read back in id order.

A poll tick writes its snapshot and its event rows in one transaction, so an
event is stored if and only if its change is. The dispatcher reads pending rows
in id order and marks each handled in the transaction that records what the
handlers did.

Ordering caveat: on PostgreSQL ids come from a sequence, and two concurrent
transactions can commit out of id order (id 8 visible before id 7). With one
daemon per database every writer of events is serialised per account and the
consumer reads in id order, which is enough; running several daemons against
one database needs more (a later issue).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import OrderEventRow


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One outbox row."""

    id: int
    account_id: int
    order_pk: int | None  # orders.id, not the exchange's order id (that is in the payload)
    type: str
    payload: dict[str, Any]
    created_at: datetime
    handled_at: datetime | None

    @classmethod
    def from_row(cls, row: OrderEventRow) -> EventRecord:
        return cls(**same_named(row, cls, order_pk=row.order_id, payload=dict(row.payload)))


def append_event(
    session: Session,
    *,
    account_id: int,
    order_pk: int | None,
    type: str,
    payload: dict[str, Any],
    at: datetime | None = None,
) -> int:
    """Write one event row (``at`` defaults to now); returns its id."""
    row = OrderEventRow(
        account_id=account_id,
        order_id=order_pk,
        type=type,
        payload=payload,
        created_at=at if at is not None else datetime.now(UTC),
        handled_at=None,
    )
    session.add(row)
    session.flush()
    return row.id


def pending_events(
    session: Session, *, limit: int = 100, account_ids: Collection[int] | None = None
) -> list[EventRecord]:
    """Unhandled events (of these accounts, when given), oldest (lowest id) first."""
    statement = select(OrderEventRow).where(OrderEventRow.handled_at.is_(None))
    if account_ids is not None:
        statement = statement.where(OrderEventRow.account_id.in_(list(account_ids)))
    rows = session.scalars(statement.order_by(OrderEventRow.id).limit(limit))
    return [EventRecord.from_row(row) for row in rows]


def mark_handled(session: Session, event_id: int, *, at: datetime) -> bool:
    """Mark an event handled; False if it was already handled (or does not exist)."""
    result = session.execute(
        update(OrderEventRow)
        .where(OrderEventRow.id == event_id, OrderEventRow.handled_at.is_(None))
        .values(handled_at=at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def order_events(session: Session, order_pk: int) -> list[EventRecord]:
    """Every event of one stored order, in id order."""
    rows = session.scalars(
        select(OrderEventRow).where(OrderEventRow.order_id == order_pk).order_by(OrderEventRow.id)
    )
    return [EventRecord.from_row(row) for row in rows]


def get_event(session: Session, event_id: int) -> EventRecord | None:
    row = session.get(OrderEventRow, event_id)
    return EventRecord.from_row(row) if row is not None else None
