"""The CLI as a process against ``p2pilot simulate``, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from .conftest import API_KEY, API_SECRET, SECRET_ENV, SimProcess, cli, wait_for, write_config


def sim_orders(sim: SimProcess) -> dict[str, dict[str, object]]:
    return {o["id"]: o for o in sim.control("GET", "orders")}  # type: ignore[union-attr]


def assert_no_secret(*outputs: str) -> None:
    for output in outputs:
        assert API_SECRET not in output
        assert API_KEY not in output


def test_run_once_stores_every_order_with_exact_amounts(
    simulator: SimProcess, db_url: str, tmp_path: Path
) -> None:
    sim = simulator
    created = [
        sim.control("POST", "orders", side="sell", amount="8145.00", price="81.45"),
        sim.control("POST", "orders", side="sell", amount="4072.50", price="81.45"),
        sim.control("POST", "orders", side="buy", amount="1000.01", price="80.10"),
        sim.control("POST", "orders", side="sell", amount="500.00", price="81.50"),
    ]
    ids = [c["id"] for c in created]  # type: ignore[index]
    sim.control("POST", f"orders/{ids[1]}/pay")
    sim.control("POST", f"orders/{ids[3]}/cancel")
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=sim.url)

    ran = cli("--config", str(config), "run", "--once", env=SECRET_ENV)
    assert ran.returncode == 0, ran.stdout + ran.stderr

    listed = cli("--config", str(config), "orders", "list", "--json", env=SECRET_ENV)
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in json.loads(listed.stdout)}
    truth = sim_orders(sim)
    assert set(rows) == set(truth)
    for order_id, row in rows.items():
        exchange = truth[order_id]
        assert row["account"] == "desk"
        assert row["status"] == exchange["status"]
        assert row["amount"] == exchange["amount"]  # exact decimal text, scale kept
        assert row["price"] == exchange["price"]
        assert row["quantity"] == exchange["quantity"]
        assert row["side"] == ("sell" if exchange["side"] == 1 else "buy")
        assert row["counterparty"] == exchange["targetNickName"]
        assert row["created_at"].endswith(("+00:00", "Z"))
    assert rows[ids[0]]["amount"] == "8145.00"
    assert Decimal(rows[ids[2]]["amount"]) == Decimal("1000.01")
    assert rows[ids[1]]["status"] == 20 and rows[ids[1]]["status_name"] == "paid"
    assert rows[ids[3]]["status"] == 40

    # Events were written and handled: the log names them with account and order_id.
    lines = [json.loads(line) for line in ran.stdout.splitlines() if line.startswith("{")]
    created_events = [e for e in lines if e.get("event") == "order.created"]
    # The cancelled order had finished before p2pilot first looked: it is stored
    # (above) but announced to nobody, so no rule fires for old history.
    assert {e["order_id"] for e in created_events} == set(ids[:3])
    assert all(e["account"] == "desk" for e in created_events)
    assert any(e.get("event") == "order.paid" and e["order_id"] == ids[1] for e in lines)

    # A second pass over an unchanged exchange writes no new event.
    again = cli("--config", str(config), "run", "--once", env=SECRET_ENV)
    assert again.returncode == 0
    again_lines = [json.loads(line) for line in again.stdout.splitlines() if line.startswith("{")]
    assert not [e for e in again_lines if str(e.get("event", "")).startswith("order.")]

    # The buyer pays order 0: the next pass records exactly that change.
    sim.control("POST", f"orders/{ids[0]}/pay")
    third = cli("--config", str(config), "run", "--once", env=SECRET_ENV)
    events = [json.loads(line) for line in third.stdout.splitlines() if line.startswith("{")]
    changes = [e for e in events if e.get("event") == "order.status_changed"]
    assert [(e["order_id"], e["from"], e["to"]) for e in changes] == [(ids[0], 10, 20)]

    shown = cli("--config", str(config), "orders", "show", ids[0], "--json", env=SECRET_ENV)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert [h["type"] for h in detail["history"]][:2] == ["order.created", "order.awaiting_payment"]
    assert "order.paid" in [h["type"] for h in detail["history"]]
    assert_no_secret(
        ran.stdout, ran.stderr, listed.stdout, listed.stderr, third.stdout, shown.stdout
    )


def test_secrets_never_reach_output_or_database(
    simulator: SimProcess, db_url: str, tmp_path: Path
) -> None:
    simulator.control("POST", "orders", side="sell", amount="100.00", price="81.00")
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=simulator.url)
    outputs = []
    for args in (
        ("check-config",),
        ("run", "--once"),
        ("orders", "list", "--json"),
        ("account", "--json"),
        ("db", "current"),
    ):
        result = cli("--config", str(config), *args, env=SECRET_ENV)
        assert result.returncode == 0, (args, result.stderr)
        outputs += [result.stdout, result.stderr]
    # A failing exchange call must not leak them either (wrong secret: 10004).
    bad = cli(
        "--config",
        str(config),
        "run",
        "--once",
        env={**SECRET_ENV, "E2E_BYBIT_SECRET": API_SECRET + "-wrong"},
    )
    assert bad.returncode == 1
    outputs += [bad.stdout, bad.stderr]
    assert_no_secret(*outputs)
    assert (API_SECRET + "-wrong") not in bad.stdout + bad.stderr

    engine = create_engine(db_url)
    try:
        with engine.connect() as connection:
            dump = []
            for table in ("accounts", "orders", "order_events", "poll_state"):
                dump += [
                    repr(tuple(row)) for row in connection.execute(text(f"SELECT * FROM {table}"))
                ]
    finally:
        engine.dispose()
    assert dump, "the run stored nothing"
    assert_no_secret("\n".join(dump))


def test_run_exits_zero_within_five_seconds_of_sigterm(
    simulator: SimProcess, db_url: str, tmp_path: Path
) -> None:
    simulator.control("POST", "orders", side="sell", amount="250.00", price="81.00")
    config = write_config(tmp_path / "p2pilot.toml", db_url=db_url, base_url=simulator.url)
    process = subprocess.Popen(
        [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, **SECRET_ENV},
    )
    try:
        # Wait until the daemon has polled at least once (the order is stored).
        def stored() -> bool:
            result = cli("--config", str(config), "orders", "list", "--json", env=SECRET_ENV)
            return result.returncode == 0 and len(json.loads(result.stdout)) == 1

        wait_for(stored, timeout=20, interval=0.2)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)  # bounds the wait, asserts nothing
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stderr
    # The five seconds are the daemon's to keep, not a stopwatch's: it gives its ticks
    # a deadline under five seconds and, past it, leaves anyway (daemon.stop_forced).
    # A clean stop is one where every tick ended within that deadline.
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    events = [line["event"] for line in lines]
    tail = events[events.index("daemon.signal") :]
    assert [e for e in tail if e.startswith("daemon.")] == [
        "daemon.signal",
        "daemon.stopping",
        "daemon.stopped",
    ], events
    (stopping,) = [line for line in lines if line["event"] == "daemon.stopping"]
    assert stopping["deadline_seconds"] < 5


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ('[polling]\norders = "5 parsecs"\n', "polling.orders", "duration"),
        ('[database]\nurl = "sqlite:///x.db"\nbogus = 1\n', "database.bogus", "unknown"),
        (
            '[[accounts]]\nname = "a"\napi_key = { env = "P2PILOT_E2E_UNSET" }\napi_secret = "x"\n',
            "accounts[0].api_key",
            "P2PILOT_E2E_UNSET",
        ),
        ("this is = = not toml", "", "TOML"),
    ],
)
def test_broken_config_exits_78_naming_file_and_key(
    tmp_path: Path, body: str, key: str, problem: str
) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(body, encoding="utf-8")
    for args in (("run", "--once"), ("check-config",), ("orders", "list")):
        result = cli("--config", str(config), *args)
        assert result.returncode == 78, (args, result.stdout, result.stderr)
        assert str(config) in result.stderr
        assert key in result.stderr
        assert problem.lower() in result.stderr.lower()
        assert "Traceback" not in result.stderr + result.stdout


def test_missing_config_file_exits_78(tmp_path: Path) -> None:
    result = cli("--config", str(tmp_path / "absent.toml"), "run", "--once")
    assert result.returncode == 78
    assert "absent.toml" in result.stderr


def test_bad_usage_exits_2() -> None:
    assert cli("no-such-command").returncode == 2
    assert cli("orders", "list", "--status").returncode == 2


def test_simulator_rejects_unsigned_requests(simulator: SimProcess) -> None:
    response = requests.post(
        f"{simulator.url}/v5/p2p/order/simplifyList", json={"page": 1}, timeout=5
    )
    body = response.json()
    assert (body.get("retCode") or body.get("ret_code")) in (10003, 10004)
