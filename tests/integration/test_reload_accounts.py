"""SIGHUP adds and removes accounts without a restart, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from p2pilot.config import load_config
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer

from ..e2e.conftest import wait_for
from .simdesk import FAST, control, request_log, running_simulator

KEYS = {"north-key": "north-secret-1", "south-key": "south-secret-2"}
SEND = "/v5/p2p/order/message/send"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator(KEYS) as server:
        yield server


def write(path: Path, db_url: str, sim: SimulatorServer, keys: list[str]) -> None:
    accounts = "".join(
        f'[[accounts]]\nname = "{key.split("-")[0]}"\napi_key = "{key}"\n'
        f'api_secret = "{KEYS[key]}"\nbase_url = "{sim.url}"\n'
        f"reads_per_second = {FAST['reads_per_second']}\n"
        f"writes_per_second = {FAST['writes_per_second']}\n\n"
        for key in keys
    )
    path.write_text(
        f'[database]\nurl = "{db_url}"\nlease = "2s"\n[metrics]\nenabled = false\n'
        f'[polling]\norders = "500ms"\n\n{accounts}'
        '[[rules]]\nname = "greet"\non = "order.created"\nreply = "Hi"\n',
        encoding="utf-8",
    )


def greeted(sim: SimulatorServer) -> set[str]:
    return {e["body"]["orderId"] for e in request_log(sim) if e["path"] == SEND}


def order(sim: SimulatorServer, key: str) -> str:
    answer = control(sim, "orders", side="sell", amount="100.00", price="81.00", api_key=key)
    return str(answer["id"])


def test_a_reload_starts_added_accounts_and_stops_removed_ones(
    sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "p2pilot.toml"
    write(path, db_url, sim, ["north-key"])
    daemon = Daemon(load_config(path))
    daemon.start()
    stop = threading.Event()
    runner = threading.Thread(target=daemon.run_forever, args=(stop,), daemon=True)
    runner.start()
    try:
        first = order(sim, "north-key")
        unconfigured = order(sim, "south-key")
        wait_for(lambda: first in greeted(sim), timeout=20)
        assert unconfigured not in greeted(sim)

        write(path, db_url, sim, ["north-key", "south-key"])
        with capture_logs() as added_logs:
            daemon.reload_requested.set()
            wait_for(lambda: unconfigured in greeted(sim), timeout=20)  # polled now
        assert {"account.added"} <= {e["event"] for e in added_logs}

        write(path, db_url, sim, ["south-key"])
        with capture_logs() as removed_logs:
            daemon.reload_requested.set()
            wait_for(lambda: any(e["event"] == "config.reloaded" for e in removed_logs), 20)
        removed = [e for e in removed_logs if e["event"] == "account.removed"]
        assert [e["account"] for e in removed] == ["north"]
        forgotten = order(sim, "north-key")
        later = order(sim, "south-key")
        wait_for(lambda: later in greeted(sim), timeout=20)
        assert forgotten not in greeted(sim)  # north is no longer worked
        assert [a.name for a in daemon.accounts] == ["south"]
    finally:
        stop.set()
        runner.join(30)
        daemon.close()
    assert sorted(greeted(sim)) == sorted([first, unconfigured, later])
