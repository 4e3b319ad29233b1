"""Two daemons on one PostgreSQL: each account with exactly one, and takeover when one dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from p2pilot.evidence.intake import record_evidence
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.engine import Store

from ..e2e.conftest import wait_for
from .simdesk import control, request_log, running_simulator

ACCOUNTS = {"lease-a": "secret-a-1", "lease-b": "secret-b-2", "lease-c": "secret-c-3"}
NAMES = {key: f"desk-{key[-1]}" for key in ACCOUNTS}  # names must differ from the keys
LEASE_S = 2.0
SEND, FINISH = "/v5/p2p/order/message/send", "/v5/p2p/order/finish"

pytestmark = pytest.mark.postgres


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator(ACCOUNTS) as server:
        yield server


def config_text(db_url: str, sim: SimulatorServer) -> str:
    accounts = "".join(
        f"""
[[accounts]]
name = "{NAMES[key]}"
api_key = "{key}"
api_secret = "{secret}"
base_url = "{sim.url}"
reads_per_second = 1000
writes_per_second = 1000
"""
        for key, secret in ACCOUNTS.items()
    )
    return f"""
[database]
url = "{db_url}"
lease = "{LEASE_S:g}s"
[logging]
format = "json"
[polling]
orders = "1s"
[metrics]
enabled = false
[safety]
auto_release = true
release_max_amount = {{ RUB = "10000" }}
release_daily_limit = {{ RUB = "100000" }}
{accounts}
[[rules]]
name = "greet"
on = "order.created"
reply = "Hi {{order.counterparty}}"

[[rules]]
name = "release"
on = ["order.paid", "payment.received"]
if = {{ payment_confirmed = true }}
release = true
"""


class Daemon:
    """``p2pilot run`` as a process, its JSON log in a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        with log.open("w", encoding="utf-8") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
            )

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def acquired(self) -> set[str]:
        return {e["account"] for e in self.events() if e["event"] == "lease.acquired"}

    def ticked(self) -> set[str]:
        return {e["account"] for e in self.events() if e["event"] == "orders.tick"}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_each_account_has_one_daemon_and_a_dead_ones_accounts_move(
    sim: SimulatorServer, postgres_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "p2pilot.toml"
    config.write_text(config_text(postgres_url, sim), encoding="utf-8")
    first = Daemon(config, tmp_path / "first.log")
    second: Daemon | None = None
    try:
        wait_for(lambda: first.acquired() == set(NAMES.values()), timeout=30)
        second = Daemon(config, tmp_path / "second.log")
        wait_for(lambda: any(e["event"] == "daemon.started" for e in second.events()), 30)
        early = {
            key: control(sim, "orders", side="sell", amount="500.00", price="81.00", api_key=key)[
                "id"
            ]
            for key in ACCOUNTS
        }
        wait_for(lambda: len([e for e in request_log(sim) if e["path"] == SEND]) == 3, 30)
        assert second.acquired() == set() and second.ticked() == set()  # all with the first

        paid = control(
            sim, "orders", side="sell", amount="700.00", price="81.00", api_key="lease-b"
        )["id"]
        control(sim, f"orders/{paid}/pay")
        wait_for(lambda: len([e for e in request_log(sim) if e["path"] == SEND]) == 4, 30)

        # No goodbye. Both run on this machine, so the second sees the first's process
        # is gone and takes over at once; between machines the lease must run out
        # (the next test).
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        wait_for(lambda: second.acquired() == set(NAMES.values()), timeout=2 * LEASE_S + 2)

        store = Store(postgres_url)
        try:
            now = datetime.now(UTC)
            record_evidence(
                store,
                amount=Decimal("700.00"),
                currency="RUB",
                payer_name="",
                reference="bank-lease-1",
                received_at=now,
                source="operator",
                now=now,
                order_id=paid,
            )
        finally:
            store.dispose()
        late = control(
            sim, "orders", side="sell", amount="900.00", price="81.00", api_key="lease-c"
        )["id"]
        wait_for(lambda: any(e["path"] == FINISH for e in request_log(sim)), 30)
        wait_for(
            lambda: any(
                e["path"] == SEND and e["body"]["orderId"] == late for e in request_log(sim)
            ),
            30,
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()

    sends = [e["body"]["orderId"] for e in request_log(sim) if e["path"] == SEND]
    assert sorted(sends) == sorted([*early.values(), paid, late])  # each greeted once
    finishes = [e["body"]["orderId"] for e in request_log(sim) if e["path"] == FINISH]
    assert finishes == [paid]  # released once, by the daemon that took the account over


def test_a_lease_moves_only_when_it_has_run_out(postgres_url: str) -> None:
    """Between machines (no pid to check) only the database clock decides."""
    from datetime import timedelta

    from p2pilot.store import leases
    from p2pilot.store.accounts import ensure_account
    from p2pilot.store.migrate import upgrade

    store = Store(postgres_url)
    try:
        upgrade(store)
        with store.transaction() as session:
            account_id = ensure_account(session, "desk")
        ttl = timedelta(seconds=1)

        def take(holder: str) -> bool:
            with store.transaction() as session:
                return leases.take_or_renew(session, account_id, holder, ttl)

        assert take("machine-a/boot:100:aa")
        assert not take("machine-b/boot:200:bb")  # held, and A may still be alive
        assert take("machine-a/boot:100:aa")  # A renews
        wait_for(lambda: take("machine-b/boot:200:bb"), timeout=3)  # A stopped renewing
        with store.transaction() as session:
            assert leases.holders(session) == {account_id: "machine-b/boot:200:bb"}
            leases.give_up(session, account_id, "machine-a/boot:100:aa")  # not A's any more
            assert leases.holders(session) == {account_id: "machine-b/boot:200:bb"}
    finally:
        store.dispose()
