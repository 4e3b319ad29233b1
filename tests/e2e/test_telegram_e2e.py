"""``p2pilot run`` with ``[telegram]``: the bot in the daemon's process, over real HTTP to a
local Bot API; a tap confirms and approves, a restart resends nothing, the token stays secret."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from ..integration.botapi import BotApi, bot_api
from .conftest import (
    QUICK_TICK,
    SECRET_ENV,
    DaemonProcess,
    SimProcess,
    cli,
    free_port,
    released,
    wait_for,
    write_config,
)
from .test_approve_e2e import APPROVE_DESK

TOKEN = "555111:E2E-telegram-TOKEN-3f9c"
CHAT = 4040
ALICE = (71, "alice")
ENV = {**SECRET_ENV, "E2E_TG_TOKEN": TOKEN}


def started_daemon(config: Path, log_path: Path) -> DaemonProcess:
    """``p2pilot run`` as a process, once it says it started."""
    daemon = DaemonProcess(config, log_path, env=ENV)
    wait_for(daemon.started, timeout=30, interval=0.1)
    return daemon


@pytest.fixture
def api() -> Iterator[BotApi]:
    with bot_api(TOKEN) as server:
        yield server


def paid_order(sim: SimProcess, amount: str) -> str:
    answer = sim.control("POST", "orders", side="sell", amount=amount, price="81.00")
    order_id = str(answer["id"])  # type: ignore[index]
    sim.control("POST", f"orders/{order_id}/pay")
    return order_id


def tap(api: BotApi, data: str) -> str:
    query = api.press(CHAT, ALICE[0], ALICE[1], data)
    return str(wait_for(lambda: api.answer_to(query), timeout=30, interval=0.1))


def confirmed_and_alerted(api: BotApi, sim: SimProcess, amount: str) -> str:
    order_id = paid_order(sim, amount)
    # The daemon stores the paid order on its next tick; until then the tap is refused.
    wait_for(lambda: tap(api, f"p:{order_id}").startswith("payment"), timeout=30, interval=0.5)
    wait_for(lambda: api.buttons_sent(f"a:{order_id}"), timeout=30, interval=0.1)
    return order_id


@pytest.mark.slow
def test_the_bot_in_run_approves_once_and_a_restart_resends_nothing(
    simulator: SimProcess,
    api: BotApi,
    migrated_db_url: str,
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    extra = (
        f'[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n'
        + APPROVE_DESK
        + f'\n[telegram]\nbot_token = {{ env = "E2E_TG_TOKEN" }}\nchats = [{CHAT}]\n'
        + f'api_url = "{api.url}"\n'
    )
    config = write_config(
        tmp_path / "p2pilot.toml",
        db_url=migrated_db_url,
        base_url=simulator.url,
        extra=extra,
        tick=QUICK_TICK,
    )
    shown = cli("--config", str(config), "check-config", env=ENV)
    assert shown.returncode == 0, shown.stderr
    assert TOKEN not in shown.stdout + shown.stderr
    assert json.loads(shown.stdout)["telegram"]["bot_token"] == "***"

    daemon = started_daemon(config, tmp_path / "first.log")
    try:
        first = confirmed_and_alerted(api, simulator, "4100.00")
        assert tap(api, f"a:{first}") == "approved, waiting for the daemon"
        wait_for(lambda: released(simulator) == [first], timeout=30, interval=0.2)
        scraped = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "p2pilot_telegram_up 1.0" in scraped
        status = json.loads(cli("--config", str(config), "status", "--json", env=ENV).stdout)
        assert status["telegram"]["consecutive_failures"] == 0
        assert status["telegram"]["last_success_at"] is not None
    finally:
        daemon.stop(timeout=20)

    daemon = started_daemon(config, tmp_path / "second.log")
    try:
        second = confirmed_and_alerted(api, simulator, "4200.00")
        assert len(api.buttons_sent(f"a:{first}")) == 1  # not resent by the restart
        assert len(api.buttons_sent(f"a:{second}")) == 1
        assert released(simulator) == [first]
    finally:
        daemon.stop(timeout=20)
    for log_file in ("first.log", "second.log"):
        text = (tmp_path / log_file).read_text(encoding="utf-8")
        assert TOKEN not in text and "telegram.starting" in text
