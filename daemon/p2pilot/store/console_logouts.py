"""Console sessions their operator logged out of: refused until their cookie would expire.

A session cookie is signed, so the server need not remember live sessions; it
remembers the ended ones instead, so that a copy of the cookie (another tab, a
proxy's log, a stolen laptop) stops working at logout, not at its expiry.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from p2pilot.store.models import ConsoleLogoutRow


def end(session: Session, sid: str, *, expires_at: datetime, now: datetime) -> None:
    """Refuse session ``sid`` from now on; forget the ended sessions that expired anyway."""
    session.execute(delete(ConsoleLogoutRow).where(ConsoleLogoutRow.expires_at < now))
    if session.get(ConsoleLogoutRow, sid) is None:
        session.add(ConsoleLogoutRow(sid=sid, expires_at=expires_at))


def ended(session: Session, sid: str) -> bool:
    """Whether session ``sid`` was logged out of."""
    return (
        session.scalar(select(ConsoleLogoutRow.sid).where(ConsoleLogoutRow.sid == sid)) is not None
    )
