"""Bank texts as they arrived, and what became of each: evidence, a repeat, or unparsed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import NotificationRow
from p2pilot.store.types import decimal_text

EVIDENCE = "evidence"  # it became a piece of payment evidence
REPEAT = "repeat"  # it tells of a transfer an earlier text already reported
UNPARSED = "unparsed"  # no template reads it: waits for the operator
RECORDED = "recorded"  # the operator turned it into evidence by hand
STATUSES = (EVIDENCE, REPEAT, UNPARSED, RECORDED)


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    source: str
    channel: str
    origin: str | None
    sender: str | None
    text: str
    digest: str
    received_at: datetime
    status: str
    template: str | None
    amount: Decimal | None
    currency: str | None
    payer_name: str | None
    reference: str | None
    account_id: int | None
    payment_id: int | None
    reason: str | None

    @classmethod
    def from_row(cls, row: NotificationRow) -> NotificationRecord:
        return cls(**same_named(row, cls))

    def to_json(self) -> dict[str, Any]:
        return same_named(
            self,
            NotificationRecord,
            omit=("origin", "digest", "account_id"),
            received_at=self.received_at.isoformat(),
            amount=decimal_text(self.amount) if self.amount is not None else None,
        )


def add_notification(session: Session, **values: Any) -> NotificationRecord:
    """Store one text with what became of it."""
    row = NotificationRow(**values)
    session.add(row)
    session.flush()
    return NotificationRecord.from_row(row)


def by_origin(session: Session, origin: str) -> NotificationRecord | None:
    """The text read from this exact place (a mailbox message), if it was read."""
    row = session.scalars(select(NotificationRow).where(NotificationRow.origin == origin)).first()
    return NotificationRecord.from_row(row) if row is not None else None


def same_text_near(
    session: Session, digest: str, received_at: datetime, window: timedelta
) -> NotificationRecord | None:
    """The first text with this digest received within ``window`` of ``received_at``."""
    row = session.scalars(
        select(NotificationRow)
        .where(
            NotificationRow.digest == digest,
            NotificationRow.received_at >= received_at - window,
            NotificationRow.received_at <= received_at + window,
        )
        .order_by(NotificationRow.id)
        .limit(1)
    ).first()
    return NotificationRecord.from_row(row) if row is not None else None


def evidence_near(
    session: Session,
    *,
    amount: Decimal,
    currency: str,
    received_at: datetime,
    window: timedelta,
) -> list[NotificationRecord]:
    """Texts that became evidence of ``amount`` ``currency`` within ``window``, oldest first."""
    rows = session.scalars(
        select(NotificationRow)
        .where(
            NotificationRow.status.in_((EVIDENCE, RECORDED)),
            NotificationRow.currency == currency,
            NotificationRow.received_at >= received_at - window,
            NotificationRow.received_at <= received_at + window,
        )
        .order_by(NotificationRow.id)
    )
    # Amounts are stored as exact text: compare them as Decimals, not as strings.
    return [NotificationRecord.from_row(r) for r in rows if r.amount == amount]


def unparsed(session: Session, *, limit: int | None = None) -> list[NotificationRecord]:
    """Texts no template read, newest first."""
    statement = (
        select(NotificationRow)
        .where(NotificationRow.status == UNPARSED)
        .order_by(NotificationRow.received_at.desc(), NotificationRow.id.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [NotificationRecord.from_row(row) for row in session.scalars(statement)]


def get(session: Session, notification_id: int) -> NotificationRecord | None:
    row = session.get(NotificationRow, notification_id)
    return NotificationRecord.from_row(row) if row is not None else None


def settle(
    session: Session,
    notification_id: int,
    *,
    payment_id: int,
    amount: Decimal,
    currency: str,
    payer_name: str,
    reference: str | None,
) -> bool:
    """An unparsed text the operator read: now evidence. False if it was not unparsed."""
    result = session.execute(
        update(NotificationRow)
        .where(NotificationRow.id == notification_id, NotificationRow.status == UNPARSED)
        .values(
            status=RECORDED,
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            payer_name=payer_name,
            reference=reference,
        )
    )
    return bool(getattr(result, "rowcount", 0))
