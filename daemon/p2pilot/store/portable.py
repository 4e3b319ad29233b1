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


def affected(result: Any) -> int:
    """Rows an INSERT/UPDATE touched (``CursorResult.rowcount``, which the typing hides)."""
    return int(getattr(result, "rowcount", 0) or 0)
