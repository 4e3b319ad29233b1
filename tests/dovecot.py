"""A real Dovecot IMAP server for the tests: loopback, its own config, a temporary mail dir.

Started as a child process (``dovecot -F -c CONFIG``), never the system service;
passwd-file authentication; plain IMAP on a free port (loopback only). ``make
test`` installs the Debian package dovecot-imapd when it is missing.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "desk", "imap-PASS-5e1d77"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Dovecot:
    host: str
    port: int
    user: str
    password: str
    log: Path

    def client(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def deliver(self, raw: bytes, folder: str = "INBOX", *, seen: bool = False) -> int:
        """Put a message into ``folder``; its UID."""
        client = self.client()
        try:
            flags = [b"\\Seen"] if seen else []
            answer = client.append(folder, raw, flags=flags)
            # APPENDUID (RFC 4315): "[APPENDUID uidvalidity uid] ..."
            return int(answer.split(b"APPENDUID ")[1].split(b"]")[0].split()[1])
        finally:
            client.logout()

    def messages(self, folder: str = "INBOX") -> dict[int, tuple[bytes, ...]]:
        """UID -> flags of every message in ``folder``."""
        client = self.client()
        try:
            client.select_folder(folder, readonly=True)
            fetched = client.fetch(client.search(["ALL"]), [b"FLAGS"])
            return {uid: tuple(data[b"FLAGS"]) for uid, data in fetched.items()}
        finally:
            client.logout()

    def create_folder(self, name: str) -> None:
        client = self.client()
        try:
            client.create_folder(name)
        finally:
            client.logout()


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:
        # Dovecot will not read mail as root: the mail files belong to its own user.
        account = pwd.getpwnam("dovecot")
        internal = "default_internal_user = dovecot\ndefault_login_user = dovenull"
    else:
        account = pwd.getpwuid(os.getuid())
        internal = (
            f"default_internal_user = {account.pw_name}\ndefault_login_user = {account.pw_name}"
        )
    uid, gid = account.pw_uid, account.pw_gid
    os.chown(root / "home", uid, gid)
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{internal}
first_valid_uid = {uid}
first_valid_gid = {gid}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
# IDLE learns of new mail through inotify; when the suite's processes have used up
# the user's inotify instances (128 by default), Dovecot falls back to looking every
# 30 s, past the tests' waits. Looking every second keeps IDLE the subject either way.
mailbox_idle_check_interval = 1 secs
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False


@contextmanager
def running_dovecot(port: int | None = None) -> Iterator[Dovecot]:
    """Start Dovecot for one test; stop it and remove its files afterwards."""
    if not os.path.exists(DOVECOT):
        if os.environ.get("CI"):
            pytest.fail("dovecot is not installed (make test installs dovecot-imapd)")
        pytest.skip("dovecot is not installed (make test installs dovecot-imapd)")
    # Not under pytest's tmp_path: its 0700 parents keep Dovecot's own user out.
    root = Path(tempfile.mkdtemp(prefix="p2pilot-dovecot-"))
    root.chmod(0o755)
    for name in ("run", "state", "home"):
        (root / name).mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    port = port or free_port()
    (root / "dovecot.conf").write_text(_config(root, port))
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                raise AssertionError(f"dovecot did not start: {output}\n{log}")
            time.sleep(0.05)
        yield Dovecot("127.0.0.1", port, USER, PASSWORD, root / "dovecot.log")
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    with running_dovecot() as server:
        yield server
