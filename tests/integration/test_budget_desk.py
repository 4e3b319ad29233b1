"""The request budget on a busy desk, against a simulator that enforces Bybit's limits."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from p2pilot.config import parse_config
from p2pilot.service import Daemon
from p2pilot.simulator.api import WRITES
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import OrderEventRow

from .simdesk import control, request_log, running_simulator

KEY, SECRET = "budget-key", "budget-secret-4"
ORDERS = 17


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}, enforce_limits=True) as server:
        yield server


def desk(db_url: str, sim: SimulatorServer, *rules: dict[str, Any]) -> Daemon:
    config = parse_config(
        {
            "database": {"url": db_url},
            "accounts": [
                {"name": "desk", "api_key": KEY, "api_secret": SECRET, "base_url": sim.url}
            ],
            "rules": [
                {"name": "greet", "on": "order.created", "reply": "Hi {order.amount}"},
                *rules,
            ],
        }
    )
    daemon = Daemon(config)
    daemon.start()
    return daemon


def busiest_second(entries: list[dict[str, Any]]) -> int:
    times = sorted(e["time"] for e in entries)
    return max((sum(1 for t in times[i:] if t < at + 1.0) for i, at in enumerate(times)), default=0)


# Serial: the simulator counts calls per wall-clock second as they arrive; on a machine
# shared with the parallel phase, calls paced apart can arrive bunched.
@pytest.mark.serial
def test_a_busy_desk_stays_inside_the_budget(sim: SimulatorServer, db_url: str) -> None:
    # Each: a detail read and a reply, on top of lists and chats. 17 replies are more
    # than four seconds' writes, and their details more than two ticks' reads.
    for n in range(ORDERS):
        control(sim, "orders", side="sell", amount=f"{100 + n}.00", price="81.00")
    daemon = desk(db_url, sim)
    for _ in range(4):  # a tick reads at most eight new orders' details: 17 take three
        assert daemon.run_once() == 0
    daemon.close()

    log = [e for e in request_log(sim) if e["api_key"] == KEY]
    assert not [e for e in log if e["ret_code"] == 10006]  # Bybit never had to say no
    reads = [e for e in log if e["path"] not in WRITES]
    writes = [e for e in log if e["path"] in WRITES]
    assert len(writes) == ORDERS and len(reads) > ORDERS
    assert busiest_second(reads) <= 8
    assert busiest_second(writes) <= 4


def test_an_ip_ban_pauses_every_call_and_alerts_once(
    sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    heard = tmp_path / "alert.json"
    copy_stdin = f"import sys; open({str(heard)!r}, 'w').write(sys.stdin.read())"
    wake_me = {
        "name": "wake-me",
        "on": "daemon.alert",
        "command": [sys.executable, "-c", copy_stdin],
    }
    daemon = desk(db_url, sim, wake_me)
    control(sim, "faults", fault="http_403", paths=["/v5/p2p/order/pending/simplifyList"], count=1)
    assert daemon.run_once() == 1
    banned_at = len(request_log(sim))
    for _ in range(3):
        assert daemon.run_once() == 1
    daemon.close()
    assert len(request_log(sim)) == banned_at  # nothing reached the exchange while banned
    with daemon.store.transaction(read_only=True) as session:
        alerts = list(
            session.scalars(
                select(OrderEventRow.payload).where(OrderEventRow.type == "daemon.alert")
            )
        )
    (alert,) = alerts
    assert alert["reason"] == "ip_ban" and alert["account"] == "desk" and alert["resume_at"]
    delivered = json.loads(heard.read_text(encoding="utf-8"))  # a rule acted on it
    assert delivered["event"] == "daemon.alert" and delivered["payload"]["reason"] == "ip_ban"
