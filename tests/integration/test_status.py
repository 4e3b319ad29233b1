"""``p2pilot status``: lag per account and job, staleness and its exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from p2pilot.config import load_config
from p2pilot.service import Daemon
from p2pilot.simulator.server import SimulatorServer
from p2pilot.store.models import PollStateRow
from tests import forkcli

from .simdesk import cli_status as status
from .simdesk import control, running_simulator, write_desk_config

KEY, SECRET = "status-key", "status-secret-8"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with running_simulator({KEY: SECRET}) as server:
        yield server


def test_status_reports_lag_staleness_and_the_waiting_buyer(
    sim: SimulatorServer, db_url: str, tmp_path: Path
) -> None:
    config = write_desk_config(
        tmp_path / "p2pilot.toml", db_url=db_url, sim=sim, key=KEY, secret=SECRET
    )
    never = status(config)  # nothing has run yet: every job is stale
    assert never.returncode == 1
    never_jobs = json.loads(never.stdout)["jobs"]
    assert never_jobs and all(j["stale"] and j["last_success_at"] is None for j in never_jobs)

    order_id = control(sim, "orders", side="sell", amount="700.00", price="81.00")["id"]
    control(sim, f"orders/{order_id}/pay")
    daemon = Daemon(load_config(config))
    daemon.start()
    assert daemon.run_once() == 0
    daemon.close()

    fresh = status(config)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    document = json.loads(fresh.stdout)
    assert document["healthy"] is True
    assert {(j["account"], j["job"]) for j in document["jobs"]} == {
        ("desk", "orders"),
        ("desk", "chat"),
        ("desk", "ads"),
    }
    assert all(j["lag_seconds"] is not None and j["lag_seconds"] < 60 for j in document["jobs"])
    waiting = document["oldest_awaiting_release"]
    assert waiting["order_id"] == order_id and waiting["age_seconds"] >= 0
    assert document["host"]["fits"] is True and document["host"]["advice"] is None

    with daemon.store.transaction() as session:  # the orders job last succeeded an hour ago
        session.execute(
            update(PollStateRow)
            .where(PollStateRow.job == "orders")
            .values(last_success_at=datetime.now(UTC) - timedelta(hours=1))
        )
    daemon.store.dispose()
    stale = status(config)
    assert stale.returncode == 1
    jobs = {j["job"]: j for j in json.loads(stale.stdout)["jobs"]}
    assert jobs["orders"]["stale"] is True and jobs["chat"]["stale"] is False


def test_status_says_when_the_polling_does_not_fit_the_host(tmp_path: Path) -> None:
    accounts = "".join(
        f'[[accounts]]\nname = "desk{n}"\napi_key = "k{n}"\napi_secret = "s{n}"\n'
        'base_url = "http://127.0.0.1:9"\n\n'
        for n in range(1, 101)
    )
    config = tmp_path / "p2pilot.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "p2pilot.db"}"\n\n'
        f'[polling]\norders = "1s"\n\n{accounts}'
    )
    human = forkcli.p2pilot("--config", str(config), "status", env={"COLUMNS": "200"})
    assert "host budget short: 100 accounts polling every 1s" in human.stdout
    document = json.loads(status(config).stdout)["host"]
    assert document["fits"] is False and document["accounts"] == 100
    assert f'polling.orders = "{document["orders_interval_that_fits"]}"' in document["advice"]
