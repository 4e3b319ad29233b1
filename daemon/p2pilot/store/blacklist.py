"""The desk's blacklist rows: buyers never released to automatically."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import BlacklistRow
from p2pilot.store.portable import affected, insert_new

KINDS = ("uid", "nickname", "name")


@dataclass(frozen=True, slots=True)
class BlacklistEntry:
    id: int
    kind: str  # uid | nickname | name
    value: str
    reason: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: BlacklistRow) -> BlacklistEntry:
        return cls(row.id, row.kind, row.value, row.reason, row.created_at)

    def to_json(self) -> dict[str, Any]:
        return same_named(self, BlacklistEntry, created_at=self.created_at.isoformat())

    def describe(self) -> str:
        """``#3 name 'OLEG SMIRNOV' (chargebacks)``: how a guard names the entry."""
        reason = f" ({self.reason})" if self.reason else ""
        return f"#{self.id} {self.kind} {self.value!r}{reason}"


def add(session: Session, *, kind: str, value: str, reason: str | None, at: datetime) -> int | None:
    """A new entry's id; None when the same kind and value are listed already."""
    if kind not in KINDS:
        raise ValueError(f"blacklist kind must be one of {', '.join(KINDS)}")
    return insert_new(session, BlacklistRow, kind=kind, value=value, reason=reason, created_at=at)


def remove(session: Session, entry_id: int) -> bool:
    """Delete an entry; False when there was none with that id."""
    return affected(session.execute(delete(BlacklistRow).where(BlacklistRow.id == entry_id))) > 0


def entries(session: Session) -> list[BlacklistEntry]:
    """Every entry, oldest first."""
    rows = session.scalars(select(BlacklistRow).order_by(BlacklistRow.id))
    return [BlacklistEntry.from_row(row) for row in rows]
