"""Driving the simulator over its control API, for the exchange client's tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from p2pilot.exchange.client import CallInfo, ExchangeClient
from p2pilot.simulator.server import SimulatorServer

KEY, SECRET = "client-key", "client-secret-123"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@contextmanager
def simulator(**options: Any) -> Iterator[SimulatorServer]:
    """The simulator on a free port, with the one account these tests sign as."""
    server = SimulatorServer(port=0, accounts={KEY: SECRET}, **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def http_client(sim: SimulatorServer, calls: list[CallInfo]) -> ExchangeClient:
    """The client over pybit and real HTTP to the simulator; each call lands in ``calls``."""
    return ExchangeClient(
        account="main",
        api_key=KEY,
        api_secret=SECRET,
        base_url=sim.url,
        timeout=5,
        on_call=calls.append,
    )


def control(sim: SimulatorServer, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{sim.url}/_sim/{path}", json=body, timeout=5)
    assert response.ok, response.text
    return response.json() if response.content else None


def new_order(sim: SimulatorServer, side: str = "sell", amount: str = "8145.00") -> str:
    created = control(sim, "POST", "orders", {"side": side, "amount": amount, "price": "81.45"})
    return str(created["id"])


def fault(sim: SimulatorServer, name: str, **options: Any) -> None:
    control(sim, "POST", "faults", {"fault": name, **options})


def bodies(sim: SimulatorServer, path: str) -> list[dict[str, Any]]:
    """The JSON bodies the simulator received on ``path``, oldest first."""
    rows = [row for row in control(sim, "GET", "requests") if row["path"] == path]
    out = []
    for row in rows:
        body = row["body"]
        out.append(json.loads(body) if isinstance(body, str | bytes) else body)
    return out
