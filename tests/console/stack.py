"""The whole desk as processes: simulator, daemon and console, for the browser tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests import forkcli
from tests.console.conftest import SESSION_SECRET, password_hash
from tests.e2e.conftest import (
    QUICK_TICK,
    SECRET_ENV,
    SimProcess,
    free_port,
    stop_process,
    wait_for,
    write_config,
)

CONSOLE_USERS = ("alice", "bob")


@dataclass
class Stack:
    sim: SimProcess
    url: str  # the console's
    config: Path
    db_url: str


def stack_config(path: Path, *, db_url: str, sim_url: str, port: int, extra: str = "") -> Path:
    """The daemon's e2e config with fast chat polling and a [console] section."""
    users = "".join(
        f'\n[[console.users]]\nname = "{name}"\npassword_hash = "{password_hash(name)}"\n'
        for name in CONSOLE_USERS
    )
    console = f"""chat = "1s"

[console]
listen = "127.0.0.1:{port}"
session_secret = "{SESSION_SECRET}"
{users}
{extra}
"""
    return write_config(path, db_url=db_url, base_url=sim_url, extra=console, tick=QUICK_TICK)


@contextmanager
def running_stack(sim: SimProcess, tmp_path: Path, db_url: str, extra: str = "") -> Iterator[Stack]:
    """The daemon and the console on ``db_url`` against ``sim``; logs in ``tmp_path``."""
    port = free_port()
    config = stack_config(
        tmp_path / "p2pilot.toml", db_url=db_url, sim_url=sim.url, port=port, extra=extra
    )
    env = {**os.environ, **SECRET_ENV}
    base = ["--config", str(config)]
    with (
        (tmp_path / "daemon.log").open("wb") as daemon_log,
        (tmp_path / "console.log").open("wb") as console_log,
    ):
        daemon = forkcli.spawn([*base, "run"], env=env, output=daemon_log)
        console = forkcli.spawn([*base, "console", "--wait", "30"], env=env, output=console_log)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: _answers(url, console), timeout=90)  # under load: generous
            yield Stack(sim=sim, url=url, config=config, db_url=db_url)
        finally:
            stop_process(console, timeout=10)
            stop_process(daemon, timeout=10)


def _answers(url: str, console: forkcli.ForkedProcess) -> bool:
    if console.poll() is not None:
        raise AssertionError(f"the console exited with {console.returncode}")
    try:
        return requests.get(f"{url}/login", timeout=1).ok
    except requests.RequestException:
        return False
