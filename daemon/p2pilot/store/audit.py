"""The audit table: every use of an operator command, allowed or refused.

A row is written in the transaction of the command's effect where there is one
(an approval, a pause), so the effect is stored if and only if its audit row is;
a refused command writes its row alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import AuditRow

DETAIL_CHARS = 2000  # one line for a human; a longer one is cut, not refused


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit row."""

    id: int
    at: datetime
    operator: str
    source: str
    command: str
    account: str | None
    order_id: str | None
    outcome: str  # "ok" or "refused"
    detail: str

    @classmethod
    def from_row(cls, row: AuditRow) -> AuditRecord:
        return cls(**same_named(row, cls))

    def to_json(self) -> dict[str, Any]:
        return same_named(self, AuditRecord, at=self.at.isoformat())


def record(
    session: Session,
    *,
    at: datetime,
    operator: str,
    source: str,
    command: str,
    account: str | None,
    order_id: str | None,
    outcome: str,
    detail: str,
) -> int:
    """Add one audit row; returns its id."""
    row = AuditRow(
        at=at,
        operator=operator[:100],
        source=source[:16],
        command=command[:32],
        account=account[:100] if account is not None else None,
        order_id=order_id[:64] if order_id is not None else None,
        outcome=outcome,
        detail=detail[:DETAIL_CHARS],
    )
    session.add(row)
    session.flush()
    return row.id


def recent(
    session: Session, *, limit: int | None = None, order_id: str | None = None
) -> list[AuditRecord]:
    """Audit rows, newest first (of one exchange order id, when given)."""
    statement = select(AuditRow)
    if order_id is not None:
        statement = statement.where(AuditRow.order_id == order_id)
    statement = statement.order_by(AuditRow.id.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return [AuditRecord.from_row(row) for row in session.scalars(statement)]
