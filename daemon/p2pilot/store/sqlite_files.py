"""The SQLite file behind a URL, and creating it (and its folders) private to the daemon's user.

The database holds buyers' KYC names, chats and payer names: it is created 0600,
and every folder created for it 0700, whatever the umask (outside systemd it is
usually 022). SQLite gives the ``-wal`` and ``-shm`` files the database file's
mode, so they follow. The same real file may be reached through a symlink, a
relative path or a ``file:`` URI (``sqlite:///file:desk.db?uri=true``):
:func:`sqlite_path` resolves them all to one absolute path, which is what the
one-daemon-per-file lock is keyed on.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from sqlalchemy.engine import URL, make_url

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def sqlite_path(url: str | URL) -> Path | None:
    """The real file a SQLite URL opens (symlinks resolved); None for memory or another backend."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database.startswith("file:"):
        if sqlite_uri_mode(parsed) == "memory":
            return None
        database = unquote(urlsplit(database).path)
    if database in ("", ":memory:"):
        return None
    return Path(os.path.realpath(database))


def sqlite_uri_mode(parsed: URL) -> str | None:
    """The ``mode=`` of a ``file:`` URI (ro, rw, rwc, memory), wherever the URL put it."""
    mode = parsed.query.get("mode")
    if isinstance(mode, str):
        return mode
    database = parsed.database or ""
    for part in urlsplit(database).query.split("&"):
        key, _, value = part.partition("=")
        if key == "mode":
            return value
    return None


def private_directory(path: Path) -> None:
    """Create ``path`` and any missing parent, each 0700 (existing ones are left alone)."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        # The umask can only take bits away from 0700: never more open than that.
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(folder, DIRECTORY_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists (an existing file keeps its mode)."""
    private_directory(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    except FileExistsError:
        return
    os.close(descriptor)
