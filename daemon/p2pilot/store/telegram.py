"""The Telegram bot's place: its outbox cursor, its updates offset, its health, its messages.

The bot reads the outbox (``order_events``) by id after its own cursor, apart
from the rule engine's ``handled_at``: an alert is sent for every event past
the cursor, and the cursor moves only once the alert went out, so a restart
neither resends nor drops one. One message per order (or per event without
one) and chat is kept, so a later event edits it in place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.events import EventRecord
from p2pilot.store.models import OrderEventRow, TelegramBotRow, TelegramMessageRow
from p2pilot.store.portable import insert_or_ignore

BOT = "bot"


@dataclass(frozen=True, slots=True)
class BotState:
    """The bot's cursors and how its last calls to Telegram went."""

    event_id: int
    update_offset: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int


def _row(session: Session, at: datetime) -> TelegramBotRow:
    # A new bot starts after the newest event: it alerts from now on, not the history.
    newest = session.scalar(select(func.max(OrderEventRow.id))) or 0
    session.execute(
        insert_or_ignore(session, TelegramBotRow).values(
            name=BOT, event_id=newest, update_offset=0, failures=0, updated_at=at
        )
    )
    return session.scalars(select(TelegramBotRow).where(TelegramBotRow.name == BOT)).one()


def state(session: Session, *, at: datetime) -> BotState:
    """The bot's state, created on first use with the cursor at the newest event."""
    row = _row(session, at)
    return BotState(**same_named(row, BotState))


def read_state(session: Session) -> BotState | None:
    """The bot's state if it ever ran (read only: for ``status``)."""
    row = session.scalars(select(TelegramBotRow).where(TelegramBotRow.name == BOT)).first()
    if row is None:
        return None
    return BotState(**same_named(row, BotState))


def _set(session: Session, at: datetime, **values: Any) -> None:
    _row(session, at)
    session.execute(
        update(TelegramBotRow).where(TelegramBotRow.name == BOT).values(updated_at=at, **values)
    )


def advance_events(session: Session, event_id: int, *, at: datetime) -> None:
    """Every event up to ``event_id`` was alerted (or is not alerted)."""
    _set(session, at, event_id=event_id)


def advance_updates(session: Session, offset: int, *, at: datetime) -> None:
    """Telegram's updates below ``offset`` were handled."""
    _set(session, at, update_offset=offset)


def succeeded(session: Session, *, at: datetime) -> None:
    """Telegram answered: the failures are over."""
    _set(session, at, last_success_at=at, failures=0)


def failed(session: Session, *, error: str, at: datetime) -> int:
    """Note a failed call; returns how many in a row have failed."""
    failures = _row(session, at).failures + 1
    _set(session, at, last_error=error[:500], last_error_at=at, failures=failures)
    return failures


def events_after(session: Session, event_id: int, *, limit: int = 50) -> list[EventRecord]:
    """Outbox events past the cursor, oldest first, handled by the rules or not."""
    rows = session.scalars(
        select(OrderEventRow)
        .where(OrderEventRow.id > event_id)
        .order_by(OrderEventRow.id)
        .limit(limit)
    )
    return [EventRecord.from_row(row) for row in rows]


def backlog(session: Session, event_id: int) -> int:
    """How many outbox events are past the cursor (alerts not yet out, or skipped)."""
    return int(session.scalar(select(func.count()).where(OrderEventRow.id > event_id)) or 0)


def message_of(session: Session, subject: str, chat_id: int) -> int | None:
    """The message that shows ``subject`` in ``chat_id``, if one was sent."""
    return session.scalar(
        select(TelegramMessageRow.message_id).where(
            TelegramMessageRow.subject == subject, TelegramMessageRow.chat_id == chat_id
        )
    )


def remember_message(
    session: Session, subject: str, chat_id: int, message_id: int, *, event_id: int, at: datetime
) -> None:
    """``message_id`` now shows ``subject`` (as of ``event_id``) in ``chat_id``."""
    values = {"message_id": message_id, "event_id": event_id, "updated_at": at}
    session.execute(
        insert_or_ignore(session, TelegramMessageRow).values(
            subject=subject, chat_id=chat_id, **values
        )
    )
    session.execute(
        update(TelegramMessageRow)
        .where(TelegramMessageRow.subject == subject, TelegramMessageRow.chat_id == chat_id)
        .values(**values)
    )
