"""Accounts: each is checked once at start; one that cannot be used stops alone."""

from __future__ import annotations

from p2pilot.config import Config, parse_config
from p2pilot.service import Daemon
from p2pilot.store import orders as stored_orders

from .simdesk import FAST, control, running_simulator


def started(config: Config) -> Daemon:
    daemon = Daemon(config)
    daemon.start()
    return daemon


def test_an_account_without_advertiser_status_stops_alone(db_url: str) -> None:
    other_key = "second-key"
    with running_simulator({"first-key": "first-secret-1", other_key: "second-secret-9"}) as server:
        control(server, "faults", fault="permission", api_key=other_key)  # 912000014, for good
        mine = control(server, "orders", side="sell", amount="500.00", price="81.00")["id"]
        accounts = [
            {
                "name": "desk",
                "api_key": "first-key",
                "api_secret": "first-secret-1",
                "base_url": server.url,
                **FAST,
            },
            {
                "name": "no-status",
                "api_key": other_key,
                "api_secret": "second-secret-9",
                "base_url": server.url,
                **FAST,
            },
        ]
        config = parse_config({"database": {"url": db_url}, "accounts": accounts, "rules": []})
        daemon = started(config)
        assert daemon.run_once() == 1  # not everything ran: one account is out
        daemon.close()
    disabled = {a.name: a.disabled_reason for a in daemon.accounts}
    assert disabled["desk"] is None
    assert "advertiser" in (disabled["no-status"] or "")
    assert [a.name for a in daemon.active_accounts] == ["desk"]
    with daemon.store.transaction(read_only=True) as session:
        assert stored_orders.get_order(session, mine) is not None  # the other one worked
