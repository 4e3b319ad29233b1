"""Driving the simulator from tests: start one, script it, read its request log."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from p2pilot.config import AccountConfig
from p2pilot.exchange.client import ExchangeClient
from p2pilot.runtime.accounts import ClientFactory, make_client
from p2pilot.simulator.inprocess import InProcessTransport
from p2pilot.simulator.server import SimulatorServer
from tests import forkcli

# An account budget for tests against a local simulator with its limits off.
FAST = {"reads_per_second": 1000, "writes_per_second": 1000}


@contextmanager
def running_simulator(
    accounts: dict[str, str], *, enforce_limits: bool = False
) -> Iterator[SimulatorServer]:
    """A simulator on a free loopback port, stopped on exit.

    Bybit's per-UID limits are off unless asked for: these tests drive the desk
    faster than a real one (and set the daemon's budget to match, see ``FAST``).
    """
    server = SimulatorServer(port=0, accounts=accounts, enforce_limits=enforce_limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def control(sim: SimulatorServer, path: str, **body: object) -> Any:
    """POST to the control API under ``/_sim/``; the JSON answer, or {} when empty."""
    response = requests.post(f"{sim.url}/_sim/{path}", json=body, timeout=5)
    response.raise_for_status()
    return response.json() if response.content else {}


def request_log(sim: SimulatorServer) -> list[dict[str, Any]]:
    """Every P2P request the simulator served, oldest first."""
    entries: list[dict[str, Any]] = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
    return entries


def served(sim: SimulatorServer, path: str) -> list[dict[str, Any]]:
    """The requests to ``path`` answered with HTTP 200."""
    return [e for e in request_log(sim) if e["path"] == path and e["http_status"] == 200]


def took_effect(sim: SimulatorServer, path: str) -> list[dict[str, Any]]:
    """The requests to ``path`` the simulator carried out (answered or lost on the way)."""
    return [e for e in request_log(sim) if e["path"] == path and e["ret_code"] == 0]


def sim_status(sim: SimulatorServer, order_id: str) -> int:
    """The order's status as the simulator knows it."""
    return int(requests.get(f"{sim.url}/_sim/orders/{order_id}", timeout=5).json()["status"])


def try_control(sim: SimulatorServer, path: str) -> bool:
    """POST a move the simulator may refuse (its status machine forbids it); True if done."""
    return requests.post(f"{sim.url}/_sim/{path}", json={}, timeout=5).ok


def clear_faults(sim: SimulatorServer) -> None:
    requests.delete(f"{sim.url}/_sim/faults", timeout=5).raise_for_status()


def order_truth(sim: SimulatorServer, order_id: str) -> dict[str, Any]:
    """The order as the simulator knows it (an ``order/info`` payload)."""
    truth: dict[str, Any] = requests.get(f"{sim.url}/_sim/orders/{order_id}", timeout=5).json()
    return truth


def all_orders(sim: SimulatorServer) -> list[dict[str, Any]]:
    """Every order the simulator holds, as ``order/info`` payloads."""
    orders: list[dict[str, Any]] = requests.get(f"{sim.url}/_sim/orders", timeout=5).json()
    return orders


def write_desk_config(
    path: Path, *, db_url: str, sim: SimulatorServer, key: str, secret: str, extra: str = ""
) -> Path:
    """A TOML config file for one account ("desk") on this simulator, for CLI tests."""
    path.write_text(
        f"""
[database]
url = "{db_url}"
[[accounts]]
name = "desk"
api_key = "{key}"
api_secret = "{secret}"
base_url = "{sim.url}"
reads_per_second = {FAST["reads_per_second"]}
writes_per_second = {FAST["writes_per_second"]}
{extra}
""",
        encoding="utf-8",
    )
    return path


def in_process(sim: SimulatorServer) -> ClientFactory:
    """Clients that reach ``sim`` in-process (the in-memory exchange), not over HTTP.

    For tests about rules and jobs, not about HTTP: ``_sim/faults`` do not apply.
    """

    def factory(account: AccountConfig) -> ExchangeClient:
        key = account.api_key.get_secret_value()
        return make_client(account, transport=InProcessTransport(sim.sim, key))

    return factory


def cli_status(config: Path) -> subprocess.CompletedProcess[str]:
    """``p2pilot status --json`` on ``config``, as a process."""
    return forkcli.p2pilot("--config", str(config), "status", "--json")
