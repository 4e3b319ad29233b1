"""``release_mode = "approve"`` end to end: the daemon as a process waits, the operator's
``p2pilot orders approve`` has it release, exactly once; pause, hold and audit on the CLI."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store

from .conftest import (
    QUICK_TICK,
    SECRET_ENV,
    DaemonProcess,
    SimProcess,
    cli,
    released,
    wait_for,
    write_config,
)

APPROVE_DESK = """
[safety]
release_mode = "approve"
release_max_amount = { RUB = "50000" }
release_daily_limit = { RUB = "500000" }

[[rules]]
name = "release"
on = ["order.paid", "payment.received"]
if = { payment_confirmed = true }
release = true
"""


class Desk(DaemonProcess):
    """The daemon as a process against the simulator, and the operator's CLI."""

    def __init__(self, sim: SimProcess, db_url: str, tmp_path: Path) -> None:
        self.sim = sim
        self.config = write_config(
            tmp_path / "p2pilot.toml",
            db_url=db_url,
            base_url=sim.url,
            extra=APPROVE_DESK,
            tick=QUICK_TICK,
        )
        super().__init__(self.config, tmp_path / "daemon.log")
        self.store = Store(db_url)  # reads only, to wait without a CLI process per poll
        wait_for(self.started, timeout=30, interval=0.1)

    def stop(self, timeout: float = 15) -> None:
        self.store.dispose()
        super().stop(timeout)

    def run(self, *args: str, operator: str = "alice") -> subprocess.CompletedProcess[str]:
        return cli("--config", str(self.config), *args, "--operator", operator, env=SECRET_ENV)

    def plain(self, *args: str) -> subprocess.CompletedProcess[str]:
        return cli("--config", str(self.config), *args, env=SECRET_ENV)

    def paid_order(self, amount: str) -> str:
        answer = self.sim.control(
            "POST", "orders", side="sell", amount=amount, price="81.00", counterparty="anna_k"
        )
        order_id = str(answer["id"])  # type: ignore[index]
        self.sim.control("POST", f"orders/{order_id}/pay")
        wait_for(lambda: (self.peek(order_id) or {}).get("status") == 20, timeout=30, interval=0.1)
        return order_id

    def peek(self, order_id: str) -> dict[str, Any] | None:
        with self.store.transaction(read_only=True) as session:
            view = stored_orders.get_order(session, order_id)
        return view.to_json() if view is not None else None

    def awaiting(self, order_id: str) -> bool:
        actions = (self.peek(order_id) or {}).get("actions", [])
        return any(a["kind"] == "release" and a["state"] == "awaiting" for a in actions)

    def released(self) -> list[str]:
        return released(self.sim)

    def logged(self, event: str) -> list[dict[str, Any]]:
        self.log.flush()
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        documents = [json.loads(line) for line in lines if line.startswith("{")]
        return [d for d in documents if d.get("event") == event]


@pytest.fixture
def desk(
    simulator: SimProcess,
    migrated_db_url: str,
    tmp_path: Path,
) -> Iterator[Desk]:
    with Desk(simulator, migrated_db_url, tmp_path) as desk:
        yield desk


def test_a_paid_order_with_evidence_waits_and_approve_releases_it_once(desk: Desk) -> None:
    order_id = desk.paid_order("4200.00")
    confirmed = desk.run("orders", "confirm-payment", order_id)
    assert confirmed.returncode == 0, confirmed.stderr
    wait_for(lambda: desk.awaiting(order_id), timeout=30, interval=0.1)
    assert desk.released() == []
    shown = json.loads(desk.plain("orders", "show", order_id, "--json").stdout)
    [waiting] = [a for a in shown["actions"] if a["state"] == "awaiting"]
    assert waiting["detail"]["decision"] == "awaiting approval"
    assert shown["operators"] == {"approvals": [], "hold": None, "paused": None}
    [queued] = json.loads(desk.plain("orders", "pending", "--json").stdout)
    assert (queued["id"], queued["standing"]) == (order_id, {"approvals": [], "hold": None})
    listed = desk.plain("orders", "pending")
    assert order_id in listed.stdout and "nobody yet" in listed.stdout, listed.stderr

    approved = desk.run("orders", "approve", order_id, "--wait", "30")
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout == f"{order_id}: released\n"
    assert desk.released() == [order_id]
    assert json.loads(desk.plain("orders", "pending", "--json").stdout) == []
    again = desk.run("orders", "approve", order_id, operator="bob")
    assert (again.returncode, again.stdout) == (0, f"{order_id}: already released\n")
    assert desk.released() == [order_id]
    # The daemon's line for the waiting release, once, with the order's id.
    assert [e["order_id"] for e in desk.logged("order.release_pending") if "waiting_for" in e] == [
        order_id
    ]
    audit = json.loads(desk.plain("audit", "--json").stdout)
    assert [(a["command"], a["operator"], a["source"], a["outcome"]) for a in audit] == [
        ("approve", "bob", "cli", "ok"),
        ("approve", "alice", "cli", "ok"),
        ("confirm-payment", "alice", "cli", "ok"),
    ]


def test_pause_and_hold_on_the_command_line(desk: Desk) -> None:
    order_id = desk.paid_order("4300.00")
    assert desk.run("orders", "confirm-payment", order_id).returncode == 0
    wait_for(lambda: desk.awaiting(order_id), timeout=30, interval=0.1)

    paused = desk.run("accounts", "pause", "desk", "--reason", "bank app down")
    assert (paused.returncode, paused.stdout) == (0, "desk: paused\n")
    status = json.loads(desk.plain("status", "--json").stdout)
    assert status["paused"]["desk"]["operator"] == "alice"
    refused = desk.run("orders", "approve", order_id, operator="bob")
    assert refused.returncode == 1
    assert refused.stdout.startswith(f"{order_id}: refused: account desk paused by alice (cli)")
    assert desk.run("accounts", "resume", "desk").stdout == "desk: resumed\n"

    held = desk.run("orders", "hold", order_id, "--reason", "buyer disputes")
    assert (held.returncode, held.stdout) == (0, f"{order_id}: held\n")
    shown = json.loads(desk.plain("orders", "show", order_id, "--json").stdout)
    assert shown["operators"]["hold"]["reason"] == "buyer disputes"
    blocked = desk.run("orders", "approve", order_id, operator="bob")
    assert blocked.returncode == 1 and "refused: held by alice: buyer disputes" in blocked.stdout
    assert desk.released() == []
    audit = json.loads(desk.plain("audit", "--json", "--limit", "2").stdout)
    assert [(a["command"], a["outcome"]) for a in audit] == [
        ("approve", "refused"),
        ("hold", "ok"),
    ]
