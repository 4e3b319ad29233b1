"""A big desk on one host: N accounts in one daemon (or a fleet), and what each costs.

For each N: ``p2pilot simulate --accounts N`` as a process (Bybit's limits on, the
per-IP one included), ``p2pilot run`` with N accounts on it (``polling.orders =
"1s"``, a greeting rule, SQLite). First an idle desk (no order), then one new sell
order every 1.5 s spread over the accounts. Prints, per N: reply latency (order
created at the exchange -> the greeting reaching it) p50/p90/p99/max, the daemon's
CPU (one core = 100%) idle and busy, requests a second, the busiest 5 s (Bybit bans
an IP over 600), and RSS. Beside the CPU, a floor measured in the same run: the CPU
this process spends to make the same pending-list call through pybit (sign, HTTP,
decode), so the ratio reads the same on a slower machine.

``--fleet``: three daemons sharing one PostgreSQL database with 150 accounts (the
simulator's per-IP limit raised: a real fleet runs on three addresses), the spread
of accounts over the daemons and each daemon's CPU.

    .venv/bin/python bench/scale.py [--accounts 10 40 100] [--idle 30] [--busy 60] [--fleet]
        [--orders-idle 3s]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import requests
from desk import Daemon, free_port, percentile
from pybit.unified_trading import HTTP

ORDERS_POLL = "/v5/p2p/order/pending/simplifyList"
SEND = "/v5/p2p/order/message/send"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Simulator:
    """``p2pilot simulate --accounts N`` as a process: its CPU is not the daemon's."""

    def __init__(self, accounts: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "p2pilot", "simulate", "--port", str(self.port)),
                *("--scenario", "none", "--accounts", str(accounts)),
                *("--api-key", "scale", "--api-secret", "scale-secret"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.session = requests.Session()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if self.session.get(f"{self.url}/_sim/health", timeout=0.5).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("the simulator did not start")

    def requests_since(self, seq: int = 0) -> list[dict[str, Any]]:
        answer = self.session.get(f"{self.url}/_sim/requests", params={"since": seq}, timeout=60)
        entries: list[dict[str, Any]] = answer.json()
        return entries

    def last_seq(self) -> int:
        entries = self.requests_since()
        return int(entries[-1]["seq"]) if entries else 0

    def order(self, account: int) -> tuple[str, float]:
        body = {"side": "sell", "amount": "1000.00", "price": "81.00", "api_key": f"scale{account}"}
        answer = self.session.post(f"{self.url}/_sim/orders", json=body, timeout=10).json()
        return str(answer["id"]), time.time()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def config_text(url: str, accounts: range, db_url: str, orders_idle: str | None = None) -> str:
    """N accounts on the simulator, orders polled every second, a greeting."""
    idle = f'orders_idle = "{orders_idle}"' if orders_idle else ""
    text = f"""
[database]
url = "{db_url}"
lease = "6s"
[logging]
format = "json"
level = "warning"
[metrics]
enabled = false
[polling]
orders = "1s"
{idle}
sweep = "30s"
[[rules]]
name = "greet"
on = "order.created"
reply = "Hi {{order.counterparty}}, please pay {{order.amount}} {{order.currency}}"
"""
    for n in accounts:
        text += (
            f'[[accounts]]\nname = "desk{n}"\napi_key = "scale{n}"\n'
            f'api_secret = "scale-secret{n}"\nbase_url = "{url}"\n'
        )
    return text


def pybit_floor(url: str, account: int, calls: int = 200) -> float:
    """CPU seconds this process spends on one pending-list call through pybit.

    ``account`` is one the daemon does not poll: their budgets must not meet.
    """
    session = HTTP(
        api_key=f"scale{account}",
        api_secret=f"scale-secret{account}",
        max_retries=1,
        retry_codes={-1},
    )
    session.endpoint = url
    started = time.process_time()
    for _ in range(calls):
        session.get_pending_orders(page=1, size=30)
        time.sleep(0.11)  # under the simulator's 10 reads a second per key
    return (time.process_time() - started) / calls


def busiest_five_seconds(times: list[float]) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - 5.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def wait_until_all_poll(sim: Simulator, accounts: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        polled = {e["api_key"] for e in sim.requests_since() if e["path"] == ORDERS_POLL}
        if len(polled) >= accounts:
            return
        time.sleep(1)
    print(f"  warning: only {len(polled)} of {accounts} accounts polled within {timeout:.0f} s")


def orders_arrive(sim: Simulator, accounts: int, seconds: float) -> dict[str, float]:
    """One new sell order every 1.5 s, round the accounts, then 5 s for the last replies."""
    started = time.monotonic()
    created: dict[str, float] = {}
    while time.monotonic() - started < seconds:
        order_id, at = sim.order(len(created) % accounts + 1)
        created[order_id] = at
        time.sleep(max(0.0, started + len(created) * 1.5 - time.monotonic()))
    time.sleep(5)
    return created


def one_desk(accounts: int, idle: float, busy: float, orders_idle: str | None = None) -> None:
    sim = Simulator(accounts + 1)  # the last one for the floor
    text = config_text(sim.url, range(1, accounts + 1), "sqlite:///{workdir}/s.db", orders_idle)
    daemon = Daemon(text, "s")
    try:
        wait_until_all_poll(sim, accounts)
        time.sleep(5)  # the first sweeps and ads reads
        floor = pybit_floor(sim.url, accounts + 1, 50)
        seq, cpu0, t0 = sim.last_seq(), daemon.cpu_seconds(), time.monotonic()
        time.sleep(idle)
        idle_cpu = (daemon.cpu_seconds() - cpu0) / (time.monotonic() - t0)
        idle_calls = sim.requests_since(seq)
        idle_polls = sum(1 for e in idle_calls if e["path"] == ORDERS_POLL)
        seq, cpu0, t0 = sim.last_seq(), daemon.cpu_seconds(), time.monotonic()
        created = orders_arrive(sim, accounts, busy)
        busy_s = time.monotonic() - t0
        busy_cpu = (daemon.cpu_seconds() - cpu0) / busy_s
        served = sim.requests_since(seq)
        sent = {e["body"]["orderId"]: e["time"] for e in served if e["path"] == SEND}
        waits = [float(sent[o]) - t for o, t in created.items() if o in sent]
        statuses = Counter(str(e.get("http_status")) for e in served)
        print(
            f"{accounts} accounts: idle CPU {idle_cpu:.0%} of a core"
            f" ({idle_cpu / max(1e-9, idle_polls / idle) / floor:.1f}x the pybit floor per poll:"
            f" {floor * 1000:.2f} ms CPU a call, measured here),"
            f" {len(idle_calls) / idle:.1f} requests/s idle;"
        )
        if waits:
            print(
                f"  busy: {len(created)} orders, {len(waits)} greeted; reply p50"
                f" {percentile(waits, 0.5):.2f} s, p90 {percentile(waits, 0.9):.2f} s,"
                f" p99 {percentile(waits, 0.99):.2f} s, max {max(waits):.2f} s;"
                f" CPU {busy_cpu:.0%}; {len(served) / busy_s:.1f} requests/s, busiest 5 s"
                f" {busiest_five_seconds([float(e['time']) for e in served])} (limit 600);"
                f" RSS {daemon.rss_mb():.0f} MB; HTTP {dict(statuses)}"
            )
        else:
            print("  busy: no greeting reached the exchange")
    finally:
        daemon.stop()
        sim.stop()


def fleet(accounts: int = 150, daemons: int = 3, busy: float = 60) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"p2pilot_scale_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    sim = Simulator(accounts)
    sim.session.post(f"{sim.url}/_sim/limits", json={"ip_limit": 100_000}, timeout=5)
    running: list[Daemon] = []
    try:
        text_ = config_text(sim.url, range(1, accounts + 1), url)
        running = [Daemon(text_, f"fleet{n}") for n in range(daemons)]
        wait_until_all_poll(sim, accounts, timeout=240)
        time.sleep(20)  # let the shares settle
        cpu0 = [d.cpu_seconds() for d in running]
        seq, t0 = sim.last_seq(), time.monotonic()
        created = orders_arrive(sim, accounts, busy)
        elapsed = time.monotonic() - t0
        served = sim.requests_since(seq)
        sent = {e["body"]["orderId"]: e["time"] for e in served if e["path"] == SEND}
        waits = [float(sent[o]) - t for o, t in created.items() if o in sent]
        polls = Counter(str(e["api_key"]) for e in served if e["path"] == ORDERS_POLL)
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "p2pilot",
                "--config",
                str(running[0].config),
                "status",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        spread = [d["accounts"] for d in json.loads(status.stdout)["fleet"]["daemons"]]
        cpus = [(d.cpu_seconds() - c) / elapsed for d, c in zip(running, cpu0, strict=True)]
        print(
            f"fleet: {daemons} daemons x {accounts} accounts on one PostgreSQL: accounts held"
            f" {sorted(spread)}; every account polled: {len(polls) == accounts};"
            f" CPU per daemon {', '.join(f'{c:.0%}' for c in cpus)}; RSS"
            f" {', '.join(f'{d.rss_mb():.0f}' for d in running)} MB"
        )
        if waits:
            print(
                f"  reply p50 {percentile(waits, 0.5):.2f} s, p99 {percentile(waits, 0.99):.2f} s,"
                f" max {max(waits):.2f} s over {len(waits)} of {len(created)} orders"
            )
    finally:
        for daemon in running:
            daemon.stop()
        sim.stop()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, nargs="*", default=[10, 40, 100])
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of idle desk")
    parser.add_argument("--busy", type=float, default=60.0, help="seconds of orders arriving")
    parser.add_argument("--fleet", action="store_true", help="also 3 daemons x 150 accounts")
    parser.add_argument("--orders-idle", help='polling.orders_idle, e.g. "3s" (default: none)')
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    for accounts in args.accounts:
        one_desk(accounts, args.idle, args.busy, args.orders_idle)
    if args.fleet:
        fleet(busy=args.busy)


if __name__ == "__main__":
    main()
