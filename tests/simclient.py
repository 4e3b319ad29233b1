"""Driving the simulator over its control API, for the exchange client's tests."""

from __future__ import annotations

import json
from typing import Any

import requests

from p2pilot.simulator.server import SimulatorServer

KEY, SECRET = "client-key", "client-secret-123"


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
