"""What the daemon writes to disk is private to its user, and one lock guards the real file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from p2pilot.store.engine import Store
from p2pilot.store.lock import AlreadyRunning, DaemonLock
from p2pilot.store.migrate import upgrade


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask outside systemd (022): files 0644 and folders 0755 by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
def test_the_database_its_wal_and_folders_are_private(tmp_path: Path) -> None:
    database = tmp_path / "var" / "lib" / "p2pilot.db"
    url = f"sqlite:///{database}"
    lock = DaemonLock(url)
    lock.acquire()
    store = Store(url)
    try:
        upgrade(store)  # writes through WAL: -wal and -shm exist while the engine is open
        created = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), lock.path]
        assert all(p is not None and p.exists() for p in created), created
        assert {str(p): oct(mode(p)) for p in created if p} == {
            str(p): "0o600" for p in created if p
        }
        for folder in (tmp_path / "var", tmp_path / "var" / "lib"):
            assert oct(mode(folder)) == "0o700", folder
    finally:
        store.dispose()
        lock.release()


@pytest.mark.usefixtures("open_umask")
def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    store = Store(f"sqlite:///{shared / 'p2pilot.db'}")
    try:
        upgrade(store)
    finally:
        store.dispose()
    assert oct(mode(shared)) == "0o755"
    assert oct(mode(shared / "p2pilot.db")) == "0o600"


def routes_to_the_same_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    real = tmp_path / "desk.db"
    link = tmp_path / "link.db"
    link.symlink_to(real)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    return [
        f"sqlite:///{link}",
        "sqlite:///../desk.db",
        f"sqlite:///file:{real}?uri=true",
        f"sqlite:///file:{real}?mode=rwc&uri=true",
        "sqlite:///file:../desk.db?uri=true",
        f"sqlite+pysqlite:///{tmp_path}/./desk.db",
    ]


def test_every_route_to_the_same_file_meets_the_same_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = DaemonLock(f"sqlite:///{tmp_path / 'desk.db'}")
    first.acquire()
    try:
        for url in routes_to_the_same_file(tmp_path, monkeypatch):
            with pytest.raises(AlreadyRunning):
                DaemonLock(url).acquire()
    finally:
        first.release()


def test_a_file_uri_opens_the_file_it_locks(tmp_path: Path) -> None:
    url = f"sqlite:///file:{tmp_path / 'desk.db'}?uri=true"
    lock = DaemonLock(url)
    assert lock.path == tmp_path / "desk.db.lock"
    store = Store(url)
    try:
        upgrade(store)
    finally:
        store.dispose()
    assert (tmp_path / "desk.db").stat().st_size > 0


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file:mem?mode=memory&uri=true"]
)
def test_memory_databases_need_no_lock(url: str) -> None:
    assert DaemonLock(url).path is None
