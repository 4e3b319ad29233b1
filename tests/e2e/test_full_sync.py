"""``run --once`` is a full sync: every order the exchange reports is stored, within budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from .conftest import SECRET_ENV, SimProcess, cli, write_config


@pytest.mark.slow
@pytest.mark.timeout(400)  # the budget paces ~250 calls; a loaded machine is slower still
def test_run_once_stores_a_desk_of_100_orders(
    simulator: SimProcess, db_url: str, tmp_path: Path
) -> None:
    sim = simulator
    ids = [
        str(sim.control("POST", "orders", side="sell", amount="1000.00")["id"])  # type: ignore[index]
        for _ in range(100)
    ]
    for order_id in ids[:30]:
        sim.control("POST", f"orders/{order_id}/pay")
    for order_id in ids[30:60]:
        sim.control("POST", f"orders/{order_id}/cancel")
    sim.control("DELETE", "requests")
    # polling.orders = 1s: a tick's share of the budget is 8 detail reads, so one
    # tick stores a fraction of this desk; --once must keep going until it has all.
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=sim.url)

    ran = cli("--config", str(config), "run", "--once", env=SECRET_ENV, timeout=240)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]

    listed = cli(
        "--config", str(config), "orders", "list", "--json", "--limit", "500", env=SECRET_ENV
    )
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == set(ids)
    truth = {o["id"]: o["status"] for o in sim.control("GET", "orders")}  # type: ignore[union-attr]
    assert {order_id: row["status"] for order_id, row in rows.items()} == truth

    # Within the request budget: the simulator enforces Bybit's per-UID limits and
    # never had to refuse a call.
    served = sim.control("GET", "requests")
    assert isinstance(served, list) and served
    assert not [r for r in served if r["ret_code"] == 10006 or r["http_status"] != 200]

    # The events it wrote were handled before it exited.
    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            total, unhandled = connection.execute(
                text(
                    "SELECT COUNT(*), COUNT(*) - COUNT(handled_at) FROM order_events "
                    "WHERE type LIKE 'order.%'"
                )
            ).one()
    finally:
        engine.dispose()
    assert total >= 100
    assert unhandled == 0
