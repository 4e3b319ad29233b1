"""A fleet on one PostgreSQL: accounts spread evenly, each with one daemon, moved when one dies."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from p2pilot.simulator.server import SimulatorServer
from p2pilot.store import leases
from p2pilot.store.engine import Store
from tests import forkcli

from ..e2e.conftest import stop_process, wait_for
from ..evidence import report_payment
from .simdesk import cli_status, control, request_log, running_simulator

ACCOUNTS = {f"fleet{n}": f"fleet-secret-{n}" for n in range(1, 31)}
NAMES = {key: f"desk-{key[5:]}" for key in ACCOUNTS}  # names must differ from the keys
# Long enough that a renewal held up by a busy machine (three per lease) does not
# lose it; the tests assert orderings in the database's clock, never durations.
LEASE_S = 9.0
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
chat = "10s"
sweep = "30s"
[metrics]
enabled = false
[safety]
release_mode = "auto"
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
            self.process = forkcli.spawn(["--config", str(config), "run"], output=sink)

    def events(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def acquired(self) -> set[str]:
        return {e["account"] for e in self.events() if e["event"] == "lease.acquired"}

    def ticked(self) -> set[str]:
        return {e["account"] for e in self.events() if e["event"] == "orders.tick"}

    def stop(self) -> None:
        if self.process.poll() is None:
            stop_process(self.process)


def holdings(db_url: str) -> dict[str, set[str]]:
    """The accounts each daemon holds now, by holder id."""
    store = Store(db_url)
    try:
        with store.transaction(read_only=True) as session:
            held = leases.held_accounts(session)
    finally:
        store.dispose()
    by_holder: dict[str, set[str]] = {}
    for account, holder in held:
        by_holder.setdefault(holder, set()).add(account)
    return by_holder


def spread(db_url: str, daemons: int) -> dict[str, set[str]] | None:
    """The holdings once ``daemons`` hold every account, each its share give or take one."""
    held = holdings(db_url)
    counts = [len(accounts) for accounts in held.values()]
    share = len(ACCOUNTS) / daemons
    even = len(held) == daemons and all(abs(c - share) <= 1 for c in counts)
    return held if even and sum(counts) == len(ACCOUNTS) else None


def lease_times(db_url: str, column: str) -> dict[str, datetime]:
    """``acquired_at`` or ``expires_at`` of every lease row, by account name (database clock)."""
    assert column in ("acquired_at", "expires_at")
    store = Store(db_url)
    try:
        with store.transaction(read_only=True) as session:
            rows = session.execute(
                text(
                    f"SELECT a.name, l.{column} FROM account_leases l"
                    " JOIN accounts a ON a.id = l.account_id"
                )
            )
            return {str(name): at for name, at in rows}
    finally:
        store.dispose()


def greeted(sim: SimulatorServer) -> list[str]:
    return [e["body"]["orderId"] for e in request_log(sim) if e["path"] == SEND]


def finished(sim: SimulatorServer) -> list[str]:
    return [e["body"]["orderId"] for e in request_log(sim) if e["path"] == FINISH]


def confirm(db_url: str, order_id: str, amount: str) -> None:
    """The operator's confirmation that the money of ``order_id`` arrived."""
    store = Store(db_url)
    try:
        report_payment(store, amount, f"bank-{order_id}", order_id=order_id)
    finally:
        store.dispose()


@pytest.mark.slow
def test_a_fleet_spreads_the_accounts_and_a_dead_members_move(
    sim: SimulatorServer, postgres_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "p2pilot.toml"
    config.write_text(config_text(postgres_url, sim), encoding="utf-8")
    daemons = [Daemon(config, tmp_path / "first.log")]
    try:
        wait_for(lambda: daemons[0].acquired() == set(NAMES.values()), timeout=60)
        daemons += [Daemon(config, tmp_path / f"{n}.log") for n in ("second", "third")]
        before = wait_for(lambda: spread(postgres_url, 3), timeout=60, interval=0.5)
        fleet = json.loads(cli_status(config).stdout)["fleet"]
        assert sorted(d["accounts"] for d in fleet["daemons"]) == sorted(
            len(a) for a in before.values()
        )
        assert {d["pid"] for d in fleet["daemons"]} == {d.process.pid for d in daemons}

        orders = {
            key: control(sim, "orders", side="sell", amount="500.00", price="81.00", api_key=key)[
                "id"
            ]
            for key in ACCOUNTS
        }
        wait_for(lambda: len(greeted(sim)) == len(ACCOUNTS), timeout=60, interval=0.5)

        # No goodbye from the second. All run on this machine, so the others see its
        # process is gone and take its accounts at once; between machines its leases
        # must run out first (the next test).
        victim = daemons[1]
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(10)
        victims_accounts = next(
            accounts for holder, accounts in before.items() if f":{victim.process.pid}:" in holder
        )
        ran_out_at = lease_times(postgres_url, "expires_at")  # the dead renew no more
        wait_for(lambda: spread(postgres_url, 2), timeout=60, interval=0.2)
        # "At once": each was taken before the lease it had left could run out.
        taken_at = lease_times(postgres_url, "acquired_at")
        waited = [a for a in victims_accounts if taken_at[a] >= ran_out_at[a]]
        assert not waited, f"waited out the dead member's leases: {waited}"

        # Its accounts are worked again: their paid orders released, new ones greeted.
        moved = [key for key, name in NAMES.items() if name in victims_accounts][:3]
        for key in moved:
            control(sim, f"orders/{orders[key]}/pay")
            confirm(postgres_url, orders[key], "500.00")
        late = {
            key: control(sim, "orders", side="sell", amount="900.00", price="81.00", api_key=key)[
                "id"
            ]
            for key in moved
        }
        wait_for(lambda: len(greeted(sim)) == len(ACCOUNTS) + len(moved), timeout=60)
        wait_for(lambda: len(finished(sim)) >= len(moved), timeout=60)
    finally:
        for daemon in daemons:
            daemon.stop()

    assert sorted(greeted(sim)) == sorted([*orders.values(), *late.values()])  # each once
    assert sorted(finished(sim)) == sorted(orders[key] for key in moved)  # released once each


def test_a_lease_moves_only_when_it_has_run_out(postgres_url: str) -> None:
    """Between machines (no pid to check) only the database clock decides."""
    from datetime import timedelta

    from p2pilot.store.accounts import ensure_account
    from p2pilot.store.migrate import upgrade

    store = Store(postgres_url)
    try:
        upgrade(store)
        with store.transaction() as session:
            account_id = ensure_account(session, "desk")

        def take(holder: str, seconds: float = 60) -> bool:
            with store.transaction() as session:
                return leases.take_or_renew(session, account_id, holder, timedelta(seconds=seconds))

        assert take("machine-a/boot:100:aa")
        assert not take("machine-b/boot:200:bb")  # held, and A may still be alive
        # A renews, a last time, for a moment: B gets it once that has run out (the
        # deadline only bounds the wait; the order is the database clock's).
        assert take("machine-a/boot:100:aa", seconds=0.5)
        ran_out_at = lease_times(postgres_url, "expires_at")["desk"]
        wait_for(lambda: take("machine-b/boot:200:bb"), timeout=30)
        assert lease_times(postgres_url, "acquired_at")["desk"] >= ran_out_at
        with store.transaction() as session:
            assert leases.holders(session) == {account_id: "machine-b/boot:200:bb"}
            leases.give_up(session, account_id, "machine-a/boot:100:aa")  # not A's any more
            assert leases.holders(session) == {account_id: "machine-b/boot:200:bb"}
    finally:
        store.dispose()
