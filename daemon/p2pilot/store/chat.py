"""Chat messages, stored once each (per account and message id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.records import ChatMessage
from p2pilot.store.models import ChatMessageRow
from p2pilot.store.portable import insert_or_ignore


@dataclass(frozen=True, slots=True)
class ChatEntry:
    """A stored message as ``orders show`` presents it."""

    id: str
    order_id: str | None
    sender: str | None
    sender_user_id: str | None
    role: str
    text: str
    content_type: str
    api: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (times ISO 8601 UTC)."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "sender": self.sender,
            "sender_user_id": self.sender_user_id,
            "role": self.role,
            "text": self.text,
            "content_type": self.content_type,
            "api": self.api,
        }


def store_messages(
    session: Session, account_id: int, messages: list[ChatMessage]
) -> list[ChatMessage]:
    """Insert the messages not stored yet; returns those, in the order given."""
    inserted: list[ChatMessage] = []
    for message in messages:
        # ON CONFLICT DO NOTHING ... RETURNING yields a row only for a real insert,
        # which also makes concurrent writers of the same message safe.
        statement = (
            insert_or_ignore(session, ChatMessageRow)
            .values(
                account_id=account_id,
                order_id=message.order_id or None,
                message_id=message.id,
                sender_user_id=message.sender_user_id or None,
                sender_nickname=message.sender_nickname or None,
                text=message.text,
                content_type=message.content_type,
                msg_type=message.msg_type,
                role=str(message.role),
                msg_uuid=message.msg_uuid or None,
                api=str(message.api),
                created_at=message.created_at,
                raw=message.raw,
            )
            .returning(ChatMessageRow.id)
        )
        if session.execute(statement).first() is not None:
            inserted.append(message)
    return inserted


def order_chat(session: Session, account_id: int, order_id: str) -> list[ChatEntry]:
    """Messages of one exchange order, oldest first."""
    rows = session.scalars(
        select(ChatMessageRow)
        .where(ChatMessageRow.account_id == account_id, ChatMessageRow.order_id == order_id)
        .order_by(ChatMessageRow.created_at, ChatMessageRow.id)
    )
    return [
        ChatEntry(
            id=row.message_id,
            order_id=row.order_id,
            sender=row.sender_nickname,
            sender_user_id=row.sender_user_id,
            role=row.role,
            text=row.text,
            content_type=row.content_type,
            api=row.api,
            created_at=row.created_at,
        )
        for row in rows
    ]


def known_ids(session: Session, account_id: int, message_ids: list[str]) -> set[str]:
    """Which of these message ids are stored already."""
    if not message_ids:
        return set()
    rows = session.scalars(
        select(ChatMessageRow.message_id).where(
            ChatMessageRow.account_id == account_id,
            ChatMessageRow.message_id.in_(message_ids),
        )
    )
    return set(rows)
