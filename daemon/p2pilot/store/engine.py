"""Engines and sessions: SQLite tuned for one writer and many readers, or PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from p2pilot.store.sqlite_files import private_file, sqlite_path, sqlite_uri_mode

SQLITE_BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "p2pilot_sqlite_begin"
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "sslpassword"})
_USERINFO = re.compile(r"(?P<head>://[^/@:]*:)(?P<secret>[^@/]*)@")
P = ParamSpec("P")
R = TypeVar("R")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to log or print."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return _USERINFO.sub(r"\g<head>***@", url)
    if parsed.query:
        hidden = {
            key: ("***" if key.lower() in _SECRET_QUERY_KEYS else value)
            for key, value in parsed.query.items()
        }
        parsed = parsed.set(query=hidden)
    return parsed.render_as_string(hide_password=True)


def _on_sqlite_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 module (it would skip BEGIN
    # for SELECTs and DDL); the "begin" hook below emits our own BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so busy_timeout applies: a deferred
    # transaction that reads and then writes fails at once with "database is locked"
    # when another writer got in between. Read-only sessions opt into DEFERRED.
    mode = connection.get_execution_options().get(_BEGIN_OPTION, "IMMEDIATE")
    connection.exec_driver_sql(f"BEGIN {mode}")


def create_engine_for(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (SQLite file or ``postgresql+psycopg://``), configured for p2pilot."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_path(parsed)
        if path is not None and sqlite_uri_mode(parsed) not in ("ro", "rw"):
            # Created here, 0600 in 0700 folders, before SQLite would make it 0644.
            private_file(path)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


class Store:
    """The engine plus a session factory; every unit of work is one ``transaction()``."""

    def __init__(self, url_or_engine: str | Engine) -> None:
        if isinstance(url_or_engine, Engine):
            self.engine = url_or_engine
        else:
            self.engine = create_engine_for(url_or_engine)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)
        # Same pool and event hooks; only the BEGIN flavour differs (SQLite only).
        read_engine = self.engine.execution_options(**{_BEGIN_OPTION: "DEFERRED"})
        self._read_sessions: sessionmaker[Session] = sessionmaker(
            read_engine, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @property
    def url(self) -> str:
        """The database URL with the password hidden."""
        return redact_url(self.engine.url.render_as_string(hide_password=False))

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises.

        ``read_only=True`` lets SQLite readers run beside a writer instead of queueing
        for the write lock; it does not stop writes.
        """
        factory = self._read_sessions if read_only else self.sessions
        with factory() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def in_own_transaction(
    work: Callable[Concatenate[Session, P], R],
) -> Callable[Concatenate[Store, P], R]:
    """``work``, written to run inside its caller's transaction, as a function of a store
    that runs it in a transaction of its own: committed when it returns, rolled back
    when it raises."""

    def run(store: Store, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with store.transaction() as session:
            return work(session, *args, **kwargs)

    return run
