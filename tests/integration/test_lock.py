"""One daemon per SQLite file; the lock goes with the process."""

from __future__ import annotations

from pathlib import Path

import pytest

from p2pilot.store.lock import AlreadyRunning, DaemonLock


def test_a_second_daemon_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    first, second = DaemonLock(url), DaemonLock(url)
    first.acquire()
    with pytest.raises(AlreadyRunning) as refused:
        second.acquire()
    assert "another p2pilot daemon" in str(refused.value)
    assert str(tmp_path / "desk.db.lock") in str(refused.value)
    first.release()
    second.acquire()  # the first one stopped: the next may start
    second.release()
    other = DaemonLock(f"sqlite:///{tmp_path / 'other.db'}")
    other.acquire()  # another database is another desk
    other.release()


def test_postgresql_needs_no_file_lock() -> None:
    lock = DaemonLock("postgresql+psycopg://u@127.0.0.1/test")
    assert lock.path is None
    lock.acquire()
    lock.acquire()
