"""Alembic environment for p2pilot.

There is no alembic.ini: ``p2pilot.store.migrate`` builds the Alembic config in
code and hands over an open connection in ``config.attributes["connection"]``.
Logging is left alone (no ``fileConfig``); the daemon configures it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from p2pilot.store.engine import create_engine_for
from p2pilot.store.models import Base

config = context.config
target_metadata = Base.metadata  # carries the naming convention


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to the Alembic environment")
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
