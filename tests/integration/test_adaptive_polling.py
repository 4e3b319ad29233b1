"""Polling adapts: slow while no order is pending, fast as soon as one is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from p2pilot.config import parse_config
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer

from .simdesk import FAST, control, request_log, running_simulator

KEY, SECRET = "pace-key", "pace-secret-6"
PENDING = "/v5/p2p/order/pending/simplifyList"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def test_idle_desk_polls_slowly_and_speeds_up_with_an_order(
    sim: SimulatorServer, db_url: str
) -> None:
    ahead = [timedelta(0)]
    account = {"name": "desk", "api_key": KEY, "api_secret": SECRET, "base_url": sim.url, **FAST}
    config = parse_config(
        {
            "database": {"url": db_url},
            "accounts": [account],
            "polling": {"orders": "1s", "orders_idle": "10s"},
        }
    )
    daemon = Daemon(config, clock=lambda: datetime.now(UTC) + ahead[0])
    daemon.start()

    def tick(seconds: float) -> int:
        ahead[0] += timedelta(seconds=seconds)
        daemon.run_once()
        return len([e for e in request_log(sim) if e["path"] == PENDING])

    assert tick(0) == 1  # the first look always happens
    assert [tick(1) for _ in range(5)] == [1] * 5  # nothing pending: no call for 10 s
    order_id = control(sim, "orders", side="sell", amount="100.00", price="81.00")["id"]
    assert tick(5) == 2  # 10 s after the last look: seen
    assert [tick(1) for _ in range(3)] == [3, 4, 5]  # an order is pending: every second
    control(sim, f"orders/{order_id}/cancel")
    assert tick(1) == 6  # sees it go; the desk is idle again
    assert tick(1) == 6
    daemon.close()
