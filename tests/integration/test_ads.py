"""Ads: the sync job, every ``p2pilot ads`` command with its refusals, and repricing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from p2pilot.config import parse_config
from p2pilot.service import Daemon
from p2pilot.simulator.payloads import PREFERENCE_KEYS
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import AdEditRow, OrderEventRow
from tests import forkcli

from .simdesk import FAST, control, request_log, running_simulator, write_desk_config

KEY, SECRET = "ads-key", "ads-secret-31"
UPDATE, CREATE = "/v5/p2p/item/update", "/v5/p2p/item/create"
SBP_ID, BANK_ID, BALANCE_ID = "9120044", "9120144", "-1"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def own_ads(sim: SimulatorServer) -> dict[int, Any]:
    """The simulator's seeded ads of our merchant, by side (1 sell, 0 buy)."""
    return {a.side: a for a in sim.exchange.ads.values() if a.merchant is not None}


def write_config(tmp_path: Path, db_url: str, sim: SimulatorServer) -> Path:
    return write_desk_config(
        tmp_path / "p2pilot.toml", db_url=db_url, sim=sim, key=KEY, secret=SECRET
    )


def ads_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return forkcli.p2pilot("--config", str(config), "ads", *args)


def writes(sim: SimulatorServer, path: str) -> list[dict[str, Any]]:
    return [e for e in request_log(sim) if e["path"] == path]


def test_ads_commands_check_before_calling(
    sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, db_url, sim)
    listed = ads_cli(config, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    sell = next(a for a in json.loads(listed.stdout) if a["side"] == "sell")
    assert sell["price"] == "81.45" and sell["payment_ids"] == [SBP_ID]

    common = ["--side", "sell", "--price", "81.30", "--quantity", "100", "--min", "500"]
    foreign = ads_cli(config, "create", *common, "--max", "5000", "--payment", "582")
    assert foreign.returncode == 1
    assert "582 is not one of yours" in foreign.stderr and SBP_ID in foreign.stderr
    balance = ads_cli(config, "create", *common, "--max", "5000", "--payment", BALANCE_ID)
    assert balance.returncode == 1 and "not one of yours" in balance.stderr
    upside_down = ads_cli(config, "create", *common, "--max", "100", "--payment", SBP_ID)
    assert upside_down.returncode == 1 and "min_amount is above max_amount" in upside_down.stderr
    assert writes(sim, CREATE) == []  # every refusal happened before the call

    created = ads_cli(config, "create", *common, "--max", "5000", "--payment", BANK_ID, "--json")
    assert created.returncode == 0, created.stderr
    new_id = json.loads(created.stdout)["id"]

    too_high = ads_cli(config, "update", new_id, "--price", "150")
    assert too_high.returncode == 1 and "outside the band" in too_high.stderr
    assert writes(sim, UPDATE) == []
    moved = ads_cli(config, "update", new_id, "--price", "81.10", "--max", "9000")
    assert moved.returncode == 0, moved.stderr
    (update,) = writes(sim, UPDATE)
    assert update["body"]["price"] == "81.10" and update["body"]["maxAmount"] == "9000"
    assert update["body"]["paymentIds"] == [BANK_ID]  # what was not named stays
    # The 12 documented fields, as strings, and nothing else (extra keys get 10001).
    prefs = update["body"]["tradingPreferenceSet"]
    assert set(prefs) <= set(PREFERENCE_KEYS) and all(isinstance(v, str) for v in prefs.values())

    sim.exchange.ads[new_id].status = 20  # the exchange took it offline
    relisted = ads_cli(config, "relist", new_id)
    assert relisted.returncode == 0, relisted.stderr
    assert sim.exchange.ads[new_id].status == 10
    assert ads_cli(config, "remove", new_id).returncode == 0
    assert new_id not in sim.exchange.ads
    gone = ads_cli(config, "remove", new_id)
    assert gone.returncode == 1 and gone.stderr.startswith("p2pilot: ")


def test_ads_job_stores_ads_and_announces_changes(sim: SimulatorServer, db_url: str) -> None:
    document = {
        "database": {"url": db_url},
        "accounts": [
            {"name": "desk", "api_key": KEY, "api_secret": SECRET, "base_url": sim.url, **FAST}
        ],
    }
    daemon = Daemon(parse_config(document))
    daemon.start()
    assert daemon.run_once() == 0
    assert daemon.run_once() == 0  # nothing changed: nothing announced
    own_ads(sim)[1].price = Decimal("81.20")
    assert daemon.run_once() == 0
    daemon.close()
    with daemon.store.transaction(read_only=True) as session:
        events = list(
            session.scalars(
                select(OrderEventRow.payload)
                .where(OrderEventRow.type == "ad.changed")
                .order_by(OrderEventRow.id)
            )
        )
    assert len(events) == 3  # two new ads, then one price change
    assert events[-1]["price"] == "81.20" and events[-1]["changed"] == ["price"]


def test_reprice_follows_the_market_within_bounds_and_budget(
    sim: SimulatorServer, db_url: str
) -> None:
    sell = own_ads(sim)[1]
    document = {
        "database": {"url": db_url},
        "accounts": [
            {"name": "desk", "api_key": KEY, "api_secret": SECRET, "base_url": sim.url, **FAST}
        ],
        "rates": [
            {"token": "USDT", "currency": "RUB", "side": "sell", "depth": 3, "threshold": "0.1"}
        ],
        "rules": [
            {
                "name": "undercut",
                "on": "rate.changed",
                "reprice": {
                    "ad": sell.id,
                    "to": "best",
                    "step": "-0.05",
                    "floor": "80.00",
                    "ceiling": "83.00",
                },
            }
        ],
    }

    def market(best: str) -> None:
        price = Decimal(best)
        ads = [{"price": str(price + Decimal(i) / 10)} for i in range(3)]
        control(sim, "market", token="USDT", currency="RUB", side="sell", ads=ads)

    market("81.60")
    daemon = Daemon(parse_config(document))
    daemon.start()
    daemon.run_once()  # the first observation is the baseline: nothing to react to
    market("82.00")
    daemon.run_once()
    assert sell.price == Decimal("81.95")  # best 82.00 - 0.05
    market("85.00")
    daemon.run_once()
    assert sell.price == Decimal("83.00")  # clamped to the ceiling
    market("85.50")
    daemon.run_once()
    assert len(writes(sim, UPDATE)) == 2  # still the ceiling: no call

    for n in range(12):  # the market swings: every move is announced
        market("81.00" if n % 2 == 0 else "82.00")
        daemon.run_once()
    daemon.close()
    assert len(writes(sim, UPDATE)) == 10  # the 5-minute budget, not the exchange, said stop
    restarted = Daemon(parse_config(document))
    restarted.start()
    market("81.50")
    restarted.run_once()
    restarted.close()
    assert len(writes(sim, UPDATE)) == 10  # the budget is stored: a restart does not reset it
    with restarted.store.transaction(read_only=True) as session:
        assert session.scalar(select(func.count()).select_from(AdEditRow)) == 10
