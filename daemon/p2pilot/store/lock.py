"""One daemon per SQLite file: an exclusive ``flock`` beside the real database file.

Two daemons polling the same SQLite desk would double every API call and race
each other's writes (the ledger would still stop a double release, but nothing
else would be right). The lock dies with the process, so a crash never leaves a
stale lock behind. PostgreSQL deployments share accounts differently (leases).

The lock is keyed on the file itself, not on how the URL names it: a symlink, a
relative path and a ``file:`` URI reaching the same database take the same lock.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

from p2pilot.store.sqlite_files import FILE_MODE, private_directory, sqlite_path


class AlreadyRunning(RuntimeError):
    """Another daemon holds this database."""


class DaemonLock:
    """Held for the daemon's lifetime; a no-op for databases that are not SQLite files."""

    def __init__(self, url: str) -> None:
        database = sqlite_path(url)
        self.path = database.with_name(database.name + ".lock") if database else None
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise AlreadyRunning naming the holder."""
        if self.path is None or self._file is not None:
            return
        private_directory(self.path.parent)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        handle = os.fdopen(descriptor, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another p2pilot daemon (pid {holder}) is running on this SQLite database"
                f" (lock {self.path}); stop it first, or use PostgreSQL to run several"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
