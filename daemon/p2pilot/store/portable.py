"""SQL that needs a different spelling on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from p2pilot.store.models import Base


def insert_or_ignore(session: Session, model: type[Base]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the session's backend; add ``.values()``."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    if name == "sqlite":
        return sqlite.insert(model).on_conflict_do_nothing()
    raise NotImplementedError(f"unsupported database backend: {name}")


def insert_new(session: Session, model: type[Base], **values: Any) -> int | None:
    """Insert one row unless a unique key already holds it: the new id, or None.

    Decided by ``RETURNING`` rather than ``rowcount``, which psycopg reports as -1
    for ORM-enabled inserts: a claim must never mistake "already there" for "mine".
    """
    statement = insert_or_ignore(session, model).values(**values).returning(model.id)  # type: ignore[attr-defined]
    return session.execute(statement).scalar_one_or_none()


def affected(result: Any) -> int:
    """Rows an UPDATE touched (``CursorResult.rowcount``, which the typing hides)."""
    return int(getattr(result, "rowcount", 0) or 0)
