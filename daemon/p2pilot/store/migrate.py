"""Alembic, driven from code: upgrade, read the current revision, refuse an old schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

import p2pilot.migrations
from p2pilot.store.engine import Store, create_engine_for

# The package directory, so this works from a wheel as well as from the checkout.
MIGRATIONS_DIR = Path(p2pilot.migrations.__file__).resolve().parent


class SchemaOutdated(RuntimeError):
    """The database schema is older (or newer) than this version of p2pilot needs."""

    def __init__(self, current: str | None, head: str, *, unknown: bool = False) -> None:
        self.current = current
        self.head = head
        if unknown:
            # Downgrading the schema is never automatic: it could drop data.
            message = (
                f"database schema is at revision {current}, which this p2pilot (newest "
                f"revision {head}) does not know: it was migrated by a newer p2pilot; "
                "run that version, or downgrade the database with it first"
            )
        else:
            at = f"revision {current}" if current else "no revision (empty database)"
            message = (
                f"database schema is at {at}, this p2pilot needs revision {head}: "
                "run `p2pilot db upgrade` or set [database] auto_migrate = true"
            )
        super().__init__(message)


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config without an ini file, pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(bind: Engine | Connection) -> str | None:
    """The database's revision, or None when it has never been migrated."""
    if isinstance(bind, Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(bind: Engine | Connection) -> bool:
    """True when the database is at the newest revision."""
    return current_revision(bind) == head_revision()


def upgrade(target: Store | Engine | str, revision: str = "head") -> None:
    """Migrate the database up to ``revision``, in one transaction where the backend allows."""
    if isinstance(target, str):
        engine = create_engine_for(target)
        try:
            _upgrade(engine, revision)
        finally:
            engine.dispose()
        return
    _upgrade(target.engine if isinstance(target, Store) else target, revision)


# One migration at a time per PostgreSQL database ("p2pi"): the daemons of a fleet
# starting together on a new database would otherwise all create the same tables.
MIGRATION_LOCK = 0x70327069


def _upgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # The others wait here, then find the schema at head and do nothing.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


def ensure_schema(store: Store, auto_migrate: bool) -> None:
    """Upgrade when allowed; otherwise raise SchemaOutdated unless already at head."""
    head = head_revision()
    current = current_revision(store.engine)
    if current == head:
        return
    if current is not None and not _known(current):
        raise SchemaOutdated(current, head, unknown=True)
    if auto_migrate:
        upgrade(store)
        return
    raise SchemaOutdated(current, head)
