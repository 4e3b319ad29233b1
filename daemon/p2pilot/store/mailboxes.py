"""Where each receipt mailbox reader is (UIDVALIDITY, last UID) and how its last tries went."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import MailboxRow
from p2pilot.store.portable import insert_or_ignore


@dataclass(frozen=True, slots=True)
class MailboxState:
    name: str
    uidvalidity: int | None
    last_uid: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int


def _row(session: Session, name: str, at: datetime) -> MailboxRow:
    session.execute(
        insert_or_ignore(session, MailboxRow).values(
            name=name, uidvalidity=None, last_uid=0, failures=0, updated_at=at
        )
    )
    return session.scalars(select(MailboxRow).where(MailboxRow.name == name)).one()


def _state(row: MailboxRow) -> MailboxState:
    return MailboxState(**same_named(row, MailboxState))


def position(session: Session, name: str, *, at: datetime) -> MailboxState:
    """The mailbox's state, created (nothing read yet) on first use."""
    return _state(_row(session, name, at))


def advance(session: Session, name: str, *, uidvalidity: int, last_uid: int, at: datetime) -> None:
    """Everything up to ``last_uid`` under ``uidvalidity`` has been taken."""
    _row(session, name, at)
    session.execute(
        update(MailboxRow)
        .where(MailboxRow.name == name)
        .values(uidvalidity=uidvalidity, last_uid=last_uid, updated_at=at)
    )


def succeeded(session: Session, name: str, *, at: datetime) -> None:
    """The mailbox answered: its failures are over."""
    _row(session, name, at)
    session.execute(
        update(MailboxRow)
        .where(MailboxRow.name == name)
        .values(last_success_at=at, failures=0, updated_at=at)
    )


def failed(session: Session, name: str, *, error: str, at: datetime) -> int:
    """Note a failed try; returns how many in a row have failed."""
    row = _row(session, name, at)
    failures = row.failures + 1
    session.execute(
        update(MailboxRow)
        .where(MailboxRow.name == name)
        .values(last_error=error[:500], last_error_at=at, failures=failures, updated_at=at)
    )
    return failures


def all_mailboxes(session: Session) -> list[MailboxState]:
    """Every mailbox that was ever read, by name."""
    rows = session.scalars(select(MailboxRow).order_by(MailboxRow.name))
    return [_state(row) for row in rows]
