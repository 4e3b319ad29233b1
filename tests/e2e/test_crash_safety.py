"""SIGKILL at each crash point, then restart: one reply per (event, rule), one release."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from .conftest import SECRET_ENV, SimProcess, cli, write_config

RULES = """
[safety]
release_max_amount = { RUB = "10000" }
release_daily_limit = { RUB = "100000" }
release_mode = "auto"

[[rules]]
name = "greet"
on = "order.created"
reply = "Hi {order.counterparty}, please pay {order.amount} {order.currency}"

[[rules]]
name = "auto-release"
on = ["order.paid", "payment.received"]
if = { payment_confirmed = true }
release = true
"""


def requests_to(sim: SimProcess, path: str, order_id: str) -> list[dict[str, object]]:
    # This order's only: on a slow machine the quiet scenario opens others meanwhile.
    log = sim.control("GET", "requests")
    return [
        e
        for e in log  # type: ignore[union-attr]
        if e["path"] == path and e["body"].get("orderId") == order_id  # type: ignore[index]
    ]


@pytest.mark.parametrize(
    "point", ["reply.after_sent", "reply.after_call", "release.after_sent", "release.after_call"]
)
def test_sigkill_at_each_crash_point_never_doubles(
    simulator: SimProcess, db_url: str, tmp_path: Path, point: str
) -> None:
    sim = simulator
    order_id = str(sim.control("POST", "orders", side="sell", amount="950.00", price="81.00")["id"])  # type: ignore[index]
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=sim.url, extra=RULES)
    args = ("--config", str(config))

    if point.startswith("release"):
        first = cli(*args, "run", "--once", env=SECRET_ENV)  # stores the order, greets
        assert first.returncode == 0, first.stderr
        sim.control("POST", f"orders/{order_id}/pay")
        confirmed = cli(
            *args, "orders", "confirm-payment", order_id, "--reference", "bank-77", env=SECRET_ENV
        )
        assert confirmed.returncode == 0, confirmed.stderr

    crashed = cli(*args, "run", "--once", env={**SECRET_ENV, "P2PILOT_CRASH_AT": point})
    assert crashed.returncode == -signal.SIGKILL, (crashed.returncode, crashed.stderr)

    for _ in range(2):  # restart: reconcile, then a normal pass
        again = cli(*args, "run", "--once", env=SECRET_ENV)
        assert again.returncode == 0, again.stdout + again.stderr

    # What took effect (ret_code 0, answered or lost on the way): a send the exchange
    # refused (a 10006 or 10002 on a loaded machine) did nothing, and may be retried.
    sends = requests_to(sim, "/v5/p2p/order/message/send", order_id)
    assert len([e for e in sends if e["ret_code"] == 0]) == 1, sends
    shown = json.loads(cli(*args, "orders", "show", order_id, "--json", env=SECRET_ENV).stdout)
    states: dict[str, list[str]] = {}
    for action in shown["actions"]:
        states.setdefault(action["rule"], []).append(action["state"])
    assert states["greet"] == ["succeeded"]
    if point.startswith("release"):
        finishes = requests_to(sim, "/v5/p2p/order/finish", order_id)
        assert len([e for e in finishes if e["ret_code"] == 0]) == 1, finishes
        # Both order.paid and payment.received reach the rule; one release succeeded,
        # the other decision found the order already completed and stood down.
        assert sorted(states["auto-release"]) == ["skipped", "succeeded"]
        truth = sim.control("GET", f"orders/{order_id}")
        assert truth["status"] == 50  # type: ignore[index]
