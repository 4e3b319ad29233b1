"""Bearer tokens for the console's API: random, shown once, stored as their SHA-256 digest.

A token is 256 random bits, so a plain digest is enough (no guessing to slow
down, unlike a password); the database never holds the token itself.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from p2pilot.store.models import ConsoleTokenRow
from p2pilot.store.portable import affected

PREFIX = "p2c_"  # recognisable in a leaked log or a secret scanner
# last_used_at is rewritten at most this often: a script polling the API must not
# turn every read into a write beside the daemon's.
TOUCH_EVERY = timedelta(minutes=1)


def digest(token: str) -> str:
    """The stored form of ``token``."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(session: Session, *, operator: str, label: str | None, at: datetime) -> str:
    """A new token for ``operator``: returned once, stored only as its digest."""
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(
        ConsoleTokenRow(operator=operator, digest=digest(token), label=label, created_at=at)
    )
    session.flush()
    return token


def operator_of(session: Session, token: str, *, at: datetime) -> str | None:
    """The operator ``token`` was made for, or None; notes when it was last used."""
    row = session.scalars(
        select(ConsoleTokenRow).where(ConsoleTokenRow.digest == digest(token))
    ).first()
    if row is None:
        return None
    if row.last_used_at is None or at - row.last_used_at >= TOUCH_EVERY:
        session.execute(
            update(ConsoleTokenRow).where(ConsoleTokenRow.id == row.id).values(last_used_at=at)
        )
    return row.operator


def listed(session: Session) -> list[dict[str, Any]]:
    """Every token (never the token itself): id, operator, label, created, last used."""
    rows = session.scalars(select(ConsoleTokenRow).order_by(ConsoleTokenRow.id))
    return [
        {
            "id": row.id,
            "operator": row.operator,
            "label": row.label,
            "created_at": row.created_at.isoformat(),
            "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        }
        for row in rows
    ]


def revoke(session: Session, token_id: int) -> bool:
    """Delete token ``token_id``; False when there was none."""
    result = session.execute(delete(ConsoleTokenRow).where(ConsoleTokenRow.id == token_id))
    return affected(result) > 0
