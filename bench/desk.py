"""What the benchmark scripts share: a simulated desk, the daemon as a child process,
signed payment evidence and percentiles. Not part of the package: benchmarks only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from p2pilot.signing import signature_headers

EVIDENCE_SECRET = "bench-evidence-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Desk:
    """Control of the simulated desk (the simulator's ``/_sim`` API)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.buyers = 0

    def new_order(self, amount: str, side: str = "sell") -> tuple[str, str]:
        """A new order from a new buyer; its id and the buyer's real name."""
        self.buyers += 1
        name = f"BUYER NUMBER{self.buyers}"
        body = {
            "side": side,
            "amount": amount,
            "price": "81.00",
            "counterparty": f"buyer{self.buyers}",
            "counterparty_real_name": name,
        }
        answer = self.session.post(f"{self.url}/_sim/orders", json=body, timeout=5)
        return str(answer.json()["id"]), name

    def act(self, order_id: str, action: str) -> None:
        self.session.post(f"{self.url}/_sim/orders/{order_id}/{action}", json={}, timeout=5)

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.session.get(
            f"{self.url}/_sim/requests", params={"since": since}, timeout=30
        ).json()
        return entries


def post_evidence(url: str, *, amount: str, payer: str, reference: str) -> requests.Response:
    """The bank hook: fiat arrived (signed as ``[evidence] secret`` expects)."""
    body = json.dumps(
        {
            "amount": amount,
            "currency": "RUB",
            "payer_name": payer,
            "reference": reference,
            "received_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    headers = {"Content-Type": "application/json", **signature_headers(EVIDENCE_SECRET, body)}
    return requests.post(f"{url}/v1/payments", data=body, headers=headers, timeout=10)


class Daemon:
    """``p2pilot run`` as a child process with the given TOML."""

    def __init__(self, config_text: str, name: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"p2pilot-{name}-"))
        self.config = self.workdir / f"{name}.toml"
        self.config.write_text(config_text.replace("{workdir}", str(self.workdir)))
        self.stderr = (self.workdir / "daemon.err").open("w")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "p2pilot", "--config", str(self.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            # As systemd/p2pilot.service runs it (MALLOC_ARENA_MAX: see the unit).
            env={
                **os.environ,
                "P2PILOT_EVIDENCE_SECRET": EVIDENCE_SECRET,
                "MALLOC_ARENA_MAX": "2",
            },
        )

    def cpu_seconds(self) -> float:
        """User plus system CPU time the daemon has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            print("  the daemon did not stop within 30 s of SIGTERM: killed", flush=True)
            self.process.kill()
            self.process.wait()
        self.stderr.close()


def daemon_config(
    url: str,
    *,
    name: str,
    key: str = "bench",
    secret: str = "bench-secret",
    budget: str = "",
    evidence_port: int | None = None,
) -> str:
    """A TOML for one account on the simulator at ``url``: orders polled every second,
    a greeting on ``order.created`` and, with ``evidence_port``, the bank hook and a
    release once payment is confirmed. ``{workdir}`` is filled in by ``Daemon``."""
    text = f"""
[database]
url = "sqlite:///{{workdir}}/{name}.db"
[logging]
format = "json"
level = "warning"
[metrics]
enabled = false
[[accounts]]
name = "{name}"
api_key = "{key}"
api_secret = "{secret}"
base_url = "{url}"
{budget}
[polling]
orders = "1s"
[[rules]]
name = "greet"
on = "order.created"
reply = "Hi {{order.counterparty}}, please pay {{order.amount}} {{order.currency}}"
"""
    if evidence_port is not None:
        text += f"""
[evidence]
listen = "127.0.0.1:{evidence_port}"
secret = {{ env = "P2PILOT_EVIDENCE_SECRET" }}
[safety]
release_mode = "auto"
release_max_amount = {{ RUB = "1000000" }}
release_daily_limit = {{ RUB = "1000000000000" }}
[[rules]]
name = "release"
on = ["order.paid", "payment.received"]
if = {{ payment_confirmed = true }}
release = true
"""
    return text
