"""A PostgreSQL server of a test's own, for a test that restarts its database.

Restarting the server every other test uses would break them mid-transaction; this
one belongs to the test alone (a fresh cluster in a temporary folder, its own port,
no fsync), so the test can run beside the others. It costs about two seconds.
As root (CI) the server runs as the ``postgres`` user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import free_port

PG_ROOT = Path("/usr/lib/postgresql")  # Debian's server binaries, one folder a version


@dataclass(frozen=True)
class PrivatePostgres:
    """The running server: its URL, and a restart like the one an upgrade or a crash makes."""

    bin: Path
    home: Path  # the data directory's parent: the socket and the log live here too
    port: int
    owner: tuple[str, ...]  # the command prefix that runs a tool as the server's owner

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        return self.home / "postgresql.log"

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.owner, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{tool}: {done.stdout}{done.stderr}"

    def ctl(self, *args: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.home} -c fsync=off"
        self.run("pg_ctl", "-D", str(self.home / "data"), "-w", "-o", options, *args)

    def start(self) -> None:
        # The log file, not pg_ctl's output: the server would hold our pipe open.
        self.ctl("-l", str(self.log), "start")

    def restart(self) -> None:
        self.ctl("-l", str(self.log), "-m", "fast", "restart")


@contextmanager
def private_postgres(keep_log: Path) -> Iterator[PrivatePostgres]:
    """A fresh cluster, started; stopped and removed afterwards (its log kept at ``keep_log``)."""
    versions = sorted(os.listdir(PG_ROOT)) if PG_ROOT.is_dir() else []
    if not versions:
        message = f"no PostgreSQL server binaries under {PG_ROOT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    home = Path(tempfile.mkdtemp(prefix="p2pilot-pg-"))
    owner: tuple[str, ...] = ()
    if os.geteuid() == 0:
        shutil.chown(home, user="postgres")
        owner = ("runuser", "-u", "postgres", "--")
    server = PrivatePostgres(PG_ROOT / versions[-1] / "bin", home, free_port(), owner)
    try:
        data = str(home / "data")
        # No fsync (-N), and a locale every machine has: the server lives for one test.
        server.run(
            "initdb",
            "-N",
            "-D",
            data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        server.start()
        try:
            yield server
        finally:
            server.ctl("-m", "immediate", "stop")
    finally:
        if server.log.exists():
            shutil.copyfile(server.log, keep_log)
        shutil.rmtree(home, ignore_errors=True)
