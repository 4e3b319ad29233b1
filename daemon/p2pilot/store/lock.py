"""One daemon per SQLite file: an exclusive ``flock`` beside the database.

Two daemons polling the same SQLite desk would double every API call and race
each other's writes (the ledger would still stop a double release, but nothing
else would be right). The lock dies with the process, so a crash never leaves a
stale lock behind. PostgreSQL deployments share accounts differently (leases).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy import make_url


class AlreadyRunning(RuntimeError):
    """Another daemon holds this database."""


class DaemonLock:
    """Held for the daemon's lifetime; a no-op for databases that are not SQLite files."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        database = parsed.database or ""
        is_file = (
            parsed.get_backend_name() == "sqlite"
            and database not in ("", ":memory:")
            and not database.startswith("file:")
        )
        self.path = Path(database + ".lock") if is_file else None
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or raise AlreadyRunning naming the holder."""
        if self.path is None or self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+", encoding="utf-8")
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
