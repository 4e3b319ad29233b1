"""Fixtures for end-to-end tests: the CLI and the simulator as real processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest
import requests

from tests import forkcli

# Distinctive values so a leak is unmistakable in any output.
API_KEY = "e2e-key-7d1f0c"
API_SECRET = "e2e-SECRET-9b3a4417f2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``p2pilot ARGS`` as a process and capture its output (a fork of a process
    that imported p2pilot once: see ``tests/forkcli.py``)."""
    return forkcli.p2pilot(*args, env=env, timeout=timeout)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


FINISH = "/v5/p2p/order/finish"  # the release endpoint


@dataclass
class SimProcess:
    url: str
    process: forkcli.ForkedProcess

    def control(self, method: str, path: str, **body: object) -> object:
        response = requests.request(method, f"{self.url}/_sim/{path}", json=body or None, timeout=5)
        response.raise_for_status()
        return response.json() if response.content else None


def stop_process(
    process: subprocess.Popen[Any] | forkcli.ForkedProcess, timeout: float = 15
) -> None:
    """SIGTERM, and SIGKILL if it has not exited within ``timeout`` seconds; returns
    once it has exited."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class DaemonProcess:
    """``p2pilot run`` as a process (forked from ``tests/forkcli.py``'s server), its
    output (the JSON log) in ``log_path``."""

    def __init__(self, config: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.log = log_path.open("w")
        self.process = forkcli.spawn(
            ["--config", str(config), "run"],
            env={**os.environ, **(env if env is not None else SECRET_ENV)},
            output=self.log,
        )

    def started(self) -> bool:
        """Whether it logged ``daemon.started``; fails at once if it exited instead."""
        assert self.process.poll() is None, self.log_path.read_text(encoding="utf-8")
        return "daemon.started" in self.log_path.read_text(encoding="utf-8")

    def stop(self, timeout: float = 15) -> None:
        stop_process(self.process, timeout)
        self.log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def released(sim: SimProcess) -> list[str]:
    """The orders the simulator carried out a release for, one entry per request."""
    log: Any = sim.control("GET", "requests")
    return [e["body"]["orderId"] for e in log if e["path"] == FINISH and e["ret_code"] == 0]


@pytest.fixture(scope="session")
def simulator_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One ``p2pilot simulate`` process per test process (each xdist worker has its own)."""
    with running_simulator(log=tmp_path_factory.mktemp("simulator") / "simulator.log") as sim:
        yield sim


@pytest.fixture
def simulator(simulator_process: SimProcess) -> SimProcess:
    """``p2pilot simulate`` as a process, with no scenario so tests script every order.

    The process is shared by the tests of one worker; each test gets it reset (a new
    exchange, no faults, an empty request log, fresh rate-limit windows).
    """
    assert simulator_process.process.poll() is None, "the shared simulator exited"
    simulator_process.control("POST", "reset")
    return simulator_process


@contextmanager
def running_simulator(
    key: str = API_KEY,
    secret: str = API_SECRET,
    accounts: int = 0,
    *,
    log: Path | None = None,
    scenario: str = "none",
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[SimProcess]:
    """The ``simulator`` fixture's process, for fixtures of a wider scope; its output in
    ``log`` (or nowhere: a pipe nobody reads would stall a long-lived simulator).

    ``accounts``: serve that many, keys and secrets numbered (``simulate --accounts``);
    ``options``: more of ``simulate``'s; ``env``: added to this process's environment.
    """
    port = free_port()
    command = ["simulate", "--port", str(port), "--scenario", scenario, "--seed", "7"]
    command += ["--accounts", str(accounts), "--api-key", key, "--api-secret", secret, *options]
    # The child keeps its own copy of the descriptor.
    with (log or Path(os.devnull)).open("ab") as out:
        process = forkcli.spawn(command, env={**os.environ, **(env or {})}, output=out)
    sim = SimProcess(f"http://127.0.0.1:{port}", process)

    def up() -> bool:
        try:
            return requests.get(f"{sim.url}/_sim/health", timeout=0.5).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=60)  # generous: a machine busy with the parallel phase
        sim.control("POST", "reset")  # start from a known state
        yield sim
    finally:
        stop_process(process, timeout=10)


# The shortest orders interval a config may have: for daemons the test waits on, tick
# after tick. ``run --once`` syncs in full whatever the interval: those keep a second.
QUICK_TICK = "500ms"


def write_config(
    path: Path, *, db_url: str, base_url: str, extra: str = "", tick: str = "1s"
) -> Path:
    """A config for the ``desk`` account on ``base_url``; ``tick``: ``polling.orders``."""
    # Metrics stay on (as in production) but on a port of their own: daemons of
    # parallel tests must not contend for the default 9464.
    metrics = "" if "[metrics]" in extra else '[metrics]\nlisten = "127.0.0.1:0"\n'
    path.write_text(
        f"""
[database]
url = "{db_url}"

[logging]
level = "info"
format = "json"

[[accounts]]
name = "desk"
api_key = {{ env = "E2E_BYBIT_KEY" }}
api_secret = {{ env = "E2E_BYBIT_SECRET" }}
base_url = "{base_url}"
timeout = "3s"

[polling]
orders = "{tick}"
sweep = "5s"
shutdown_timeout = "4s"
{extra}
{metrics}""",
        encoding="utf-8",
    )
    return path


SECRET_ENV = {"E2E_BYBIT_KEY": API_KEY, "E2E_BYBIT_SECRET": API_SECRET}
