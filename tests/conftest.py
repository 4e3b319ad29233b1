"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL.

``db_url`` is parametrized over both backends. SQLite gets a file in the test's
``tmp_path``. PostgreSQL gets a fresh schema in the server's test database, put
first on the search path through the URL (``options=-csearch_path=...``), so any
engine or process given the URL sees only that schema; it is dropped afterwards.
Without a reachable server the PostgreSQL cases are skipped, or fail when
``CI=true``.

``store`` needs the schema at head. On SQLite, running every migration is most of a
storage test's setup, so the suite migrates once per run into a template file and
copies it: what Alembic made, not a second definition of the schema. On PostgreSQL
each test process keeps the schemas Alembic migrated and hands them out again
emptied (``tests/pgschemas.py``); tests without ``store`` get an empty schema.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from p2pilot.store.engine import Store, redact_url
from p2pilot.store.migrate import upgrade
from tests import forkcli
from tests.pgschemas import MigratedSchemas

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("P2PILOT_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the test database (public search path), or skip/fail without a server."""
    url = postgres_base_url()
    engine = create_engine(url, connect_args={"connect_timeout": 3}, pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        engine.dispose()
        message = f"PostgreSQL not reachable at {redact_url(url)}: {type(exc).__name__}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield engine
    engine.dispose()


def new_postgres_schema(admin: Engine) -> tuple[str, Callable[[], None]]:
    """A URL whose connections see a fresh, empty schema, and the function that drops it."""
    schema = f"p2pilot_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as connection:
            # A connection the test leaked would block the DROP forever; fail instead.
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))

    return url.render_as_string(hide_password=False), drop


@pytest.fixture
def postgres_url(postgres_admin: Engine) -> Iterator[str]:
    """A URL whose connections see a fresh, empty schema; dropped after the test."""
    url, drop = new_postgres_schema(postgres_admin)
    yield url
    drop()


@pytest.fixture(scope="session")
def migrated_schemas(postgres_admin: Engine) -> Iterator[MigratedSchemas]:
    """This test process's migrated PostgreSQL schemas, reused test after test."""
    schemas = MigratedSchemas(postgres_admin, postgres_base_url())
    yield schemas
    schemas.close()


@pytest.fixture
def migrated_postgres_url(migrated_schemas: MigratedSchemas) -> Iterator[str]:
    """A URL whose connections see a schema at head with every table empty."""
    url, give_back = migrated_schemas.take()
    yield url
    give_back()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend; the URL is plain SQLAlchemy.

    No tables, unless the test also asks for ``store``: then on PostgreSQL the
    schema is already migrated (the store's own, at head and empty).
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'p2pilot.db'}"
    wanted = "migrated_postgres_url" if "store" in request.fixturenames else "postgres_url"
    url: str = request.getfixturevalue(wanted)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head, once per run."""
    path = tmp_path_factory.mktemp("template") / "p2pilot.db"
    template = Store(f"sqlite:///{path}")
    upgrade(template)
    template.dispose()
    return path


@pytest.fixture
def store(db_url: str, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A ``Store`` on ``db_url`` with every migration applied (copied from the template)."""
    if db_url.startswith("sqlite"):
        template: Path = request.getfixturevalue("sqlite_template")
        shutil.copyfile(template, make_url(db_url).database or "")
        subject = Store(db_url)
    else:
        # Measured: replaying a pg_dump of a migrated schema costs what Alembic does
        # (the DDL is the cost, ~0.2 s); ``db_url`` is a reused migrated schema.
        subject = Store(db_url)
    yield subject
    subject.dispose()


@pytest.fixture
def migrated_db_url(db_url: str, store: Store) -> str:
    """``db_url`` with every migration applied, for a daemon under test to start on.

    The desk is at head and empty; a daemon migrating an empty database is the
    subject of the CLI, crash-safety and systemd end-to-end tests.
    """
    return db_url


@pytest.fixture(autouse=True)
def _no_host_ban_leaks() -> Iterator[None]:
    """An HTTP 403 pauses the whole process (as it should): not the next test too."""
    from p2pilot.exchange.budget import HOST

    yield
    HOST.ban.clear()


def pytest_configure(config: pytest.Config) -> None:
    """An xdist controller starts the fork server its workers will share (their
    environment names it): one p2pilot preloaded for the run, not one a worker."""
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        forkcli.start_server()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked ``slow`` first, in the order collected, then the rest.

    The parallel phase (``--dist load --maxschedchunk 1``) hands each worker two tests
    to start and then one more as each ends, in this order: the long ones start at once,
    two to a worker at most, instead of being reached last and running alone while
    the other workers idle.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
