"""Migrated PostgreSQL schemas for the ``store`` fixture, emptied and reused.

Migrating a fresh schema (Alembic, then a ``DROP ... CASCADE``) costs 0.15-0.4 s a
test; emptying a used one takes a few milliseconds. A schema goes back to the pool
only when it is provably as Alembic left it: the same tables, columns, indexes,
constraints and sequences, still at the same revision (a test that migrated,
downgraded or altered it has it dropped instead). Every table is emptied and every
sequence restarted, so ids start where a fresh schema's would; before a schema is
handed out again its tables are checked empty (a process the test left behind could
have written after the cleanup). The migrations themselves are tested by the tests
about migrations, which take empty schemas (``postgres_url``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, make_url, text

from p2pilot.store.engine import Store
from p2pilot.store.migrate import upgrade
from p2pilot.store.models import Base

# What a schema is, as the catalog describes it, less its name: one digest.
_SHAPE = text(
    """
    SELECT md5(string_agg(part, E'\\n' ORDER BY part)) FROM (
        SELECT format('column %s.%s %s %s %s', c.relname, a.attname,
                      format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid))
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = CAST(:schema AS text))
          AND a.attnum > 0 AND NOT a.attisdropped
        UNION ALL
        SELECT format('relation %s %s', relname, relkind) FROM pg_class
        WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = CAST(:schema AS text))
        UNION ALL
        SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
        WHERE connamespace = (SELECT oid FROM pg_namespace WHERE nspname = CAST(:schema AS text))
        UNION ALL
        SELECT 'index ' || replace(indexdef, CAST(:schema AS text), '') FROM pg_indexes
        WHERE schemaname = CAST(:schema AS text)
        UNION ALL
        SELECT format('sequence %s %s', sequencename, start_value) FROM pg_sequences
        WHERE schemaname = CAST(:schema AS text)
    ) AS parts (part)
    """
)
_RESTART_SEQUENCES = text(
    "SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) "
    "FROM pg_sequences WHERE schemaname = CAST(:schema AS text)"
)


@dataclass
class _Schema:
    name: str
    url: str
    shape: str
    revision: str


class MigratedSchemas:
    """This test process's pool of schemas at the newest revision."""

    def __init__(self, admin: Engine, base_url: str) -> None:
        self.admin = admin
        self.base_url = base_url
        self.idle: list[_Schema] = []
        self.all: set[str] = set()
        # Children before parents, so every DELETE meets no foreign key.
        self.tables = [table.name for table in reversed(Base.metadata.sorted_tables)]

    def take(self) -> tuple[str, Callable[[], None]]:
        """A URL on a migrated, empty schema, and the function that gives it back."""
        schema = self._reusable() or self._migrate_new()
        return schema.url, lambda: self._give_back(schema)

    def _reusable(self) -> _Schema | None:
        while self.idle:
            schema = self.idle.pop()
            if self._empty(schema):
                return schema
            self._drop(schema.name)
        return None

    def close(self) -> None:
        for name in list(self.all):
            self._drop(name)

    def _migrate_new(self) -> _Schema:
        name = f"p2pilot_test_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
        self.all.add(name)
        url = make_url(self.base_url).update_query_dict({"options": f"-csearch_path={name}"})
        rendered = url.render_as_string(hide_password=False)
        store = Store(rendered)
        try:
            upgrade(store)
        finally:
            store.dispose()
        with self.admin.connect() as connection:
            shape = connection.execute(_SHAPE, {"schema": name}).scalar_one()
            revision = self._revision(connection, name)
        return _Schema(name, rendered, shape, revision)

    @staticmethod
    def _revision(connection: Connection, name: str) -> str:
        rows = connection.execute(text(f'SELECT version_num FROM "{name}".alembic_version'))
        return ",".join(sorted(str(row[0]) for row in rows))

    def _give_back(self, schema: _Schema) -> None:
        try:
            with self.admin.begin() as connection:
                # A connection the test left in a transaction would hold locks: drop instead.
                connection.execute(text("SET LOCAL lock_timeout = '2s'"))
                same = connection.execute(_SHAPE, {"schema": schema.name}).scalar_one()
                if same != schema.shape or self._revision(connection, schema.name) != (
                    schema.revision
                ):
                    raise _Changed
                for table in self.tables:
                    connection.execute(text(f'DELETE FROM "{schema.name}"."{table}"'))
                connection.execute(_RESTART_SEQUENCES, {"schema": schema.name})
        except Exception:
            self._drop(schema.name)
            return
        self.idle.append(schema)

    def _empty(self, schema: _Schema) -> bool:
        probes = " UNION ALL ".join(
            f'(SELECT 1 FROM "{schema.name}"."{table}" LIMIT 1)' for table in self.tables
        )
        try:
            with self.admin.connect() as connection:
                found = connection.execute(text(f"SELECT count(*) FROM ({probes}) AS found"))
                return bool(found.scalar_one() == 0)
        except Exception:
            return False

    def _drop(self, name: str) -> None:
        with self.admin.begin() as connection:
            # A connection the test leaked would block the DROP forever; fail instead.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        self.all.discard(name)


class _Changed(Exception):
    """The test changed the schema's shape: it cannot be reused."""
