"""The rates job on scripted order books, and ``p2pilot rates``, on both backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from p2pilot.config import Config, parse_config
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import OrderEventRow, RateRow
from tests import forkcli

from .simdesk import FAST, control, running_simulator, write_desk_config

KEY, SECRET = "rates-key", "rates-secret-5"
RATES = {
    "token": "USDT",
    "currency": "RUB",
    "side": "sell",
    "amount": "10000",
    "payment_methods": ["582"],
    "min_orders": 10,
    "min_completion_rate": "90",
    "depth": 3,
    "threshold": "0.5",
}


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def rates_config(db_url: str, sim: SimulatorServer) -> dict[str, Any]:
    return {
        "database": {"url": db_url},
        "logging": {"format": "json"},
        "accounts": [
            {"name": "desk", "api_key": KEY, "api_secret": SECRET, "base_url": sim.url, **FAST}
        ],
        "rates": [RATES],
    }


def book(sim: SimulatorServer, *prices_and_overrides: tuple[str, dict[str, Any]]) -> None:
    ads = [{"price": price, **extra} for price, extra in prices_and_overrides]
    control(sim, "market", token="USDT", currency="RUB", side="sell", ads=ads)


def offer(price: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return price, extra


def started(config: Config) -> Daemon:
    daemon = Daemon(config)
    daemon.start()
    return daemon


def test_reference_is_the_median_of_fitting_offers_and_moves_are_announced(
    sim: SimulatorServer, db_url: str
) -> None:
    # Our own ad at 81.45 (the simulator seeds it) would be the best: it must not count.
    book(
        sim,
        offer("81.50", recent_order_count=3),  # too few orders
        offer("81.55", recent_execute_rate=80),  # completion rate too low
        offer("81.58", payments=["14"]),  # another payment method
        offer("81.59", min_amount="20000"),  # does not take 10,000 RUB
        offer("81.60"),
        offer("81.70"),
        offer("81.80"),
        offer("82.00"),
    )
    daemon = started(parse_config(rates_config(db_url, sim)))
    assert daemon.run_once() == 0
    book(sim, offer("82.40"), offer("82.50"), offer("82.60"))  # +0.98%: announced
    assert daemon.run_once() == 0
    book(sim, offer("82.45"), offer("82.55"), offer("82.65"))  # +0.06%: not announced
    assert daemon.run_once() == 0
    daemon.close()

    with daemon.store.transaction(read_only=True) as session:
        rows = list(session.scalars(select(RateRow).order_by(RateRow.id)))
        events = list(
            session.scalars(
                select(OrderEventRow.payload).where(OrderEventRow.type == "rate.changed")
            )
        )
    assert [(r.best_price, r.reference_price, r.sample_size) for r in rows] == [
        (Decimal("81.60"), Decimal("81.70"), 3),
        (Decimal("82.40"), Decimal("82.50"), 3),
        (Decimal("82.45"), Decimal("82.55"), 3),
    ]
    (event,) = events
    assert event["previous"] == "81.70" and event["reference"] == "82.50"
    assert event["best"] == "82.40" and event["change_percent"] == "0.98"


def test_rates_command_shows_latest_and_history(
    sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    book(sim, offer("81.60"), offer("81.70"), offer("81.80"))
    document = rates_config(db_url, sim)
    daemon = started(parse_config(document))
    for _ in range(3):
        daemon.run_once()
    daemon.close()
    rates_table = "[[rates]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in RATES.items())
    config = write_desk_config(
        tmp_path / "p2pilot.toml", db_url=db_url, sim=sim, key=KEY, secret=SECRET, extra=rates_table
    )

    shown = forkcli.p2pilot("--config", str(config), "rates", "--json", "--history", "1h")
    assert shown.returncode == 0, shown.stderr
    (market,) = json.loads(shown.stdout)
    assert market["token"] == "USDT" and market["side"] == "sell"
    assert market["best"] == "81.60" and market["reference"] == "81.70"
    assert len(market["history"]) == 3
    text = forkcli.p2pilot("--config", str(config), "rates").stdout
    (row,) = [line for line in text.splitlines() if line.startswith("USDT/RUB")]
    assert row.split()[:6] == ["USDT/RUB", "sell", "81.60", "RUB", "81.70", "RUB"]
