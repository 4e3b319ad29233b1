"""``p2pilot run`` under a stand-in for systemd: READY, WATCHDOG cadence, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .conftest import SECRET_ENV, SimProcess, write_config


def test_run_speaks_the_notify_protocol(simulator: SimProcess, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "p2pilot.toml", db_url=f"sqlite:///{tmp_path / 'p.db'}", base_url=simulator.url
    )
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(20)
        env = {
            **os.environ,
            **SECRET_ENV,
            "NOTIFY_SOCKET": path,
            "WATCHDOG_USEC": "1000000",  # ping every 0.5 s
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            messages: list[list[str]] = []
            deadline = time.monotonic() + 20
            while sum("WATCHDOG=1" in m for m in messages) < 3 and time.monotonic() < deadline:
                messages.append(sock.recv(4096).decode().split("\n"))
            first = messages[0]
            assert first[0] == "READY=1" and first[1].startswith("STATUS=1 account(s) polling")
            assert sum("WATCHDOG=1" in m for m in messages) >= 3
            process.send_signal(signal.SIGTERM)
            last: list[str] = []
            while "STOPPING=1" not in last:
                last = sock.recv(4096).decode().split("\n")
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
