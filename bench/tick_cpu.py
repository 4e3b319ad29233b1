"""CPU of one orders tick with 1,000 active orders: nothing changed, then 100 changed.

The simulator runs in a child process (rate limits off), so it neither shares this
process's GIL nor its caches; the orders job runs in the main thread against it over
loopback HTTP, and ``time.thread_time()`` around ``tick()`` counts the daemon's side
only: pybit, parsing, the store. The per-tick
detail cap is lifted here so that one tick takes all 100 changes (the daemon
spreads them over ticks of 8). Prints figures; asserts nothing.

    .venv/bin/python bench/tick_cpu.py [--db sqlite|postgresql] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import pstats
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from desk import Desk, free_port
from sqlalchemy import create_engine, make_url, text

from p2pilot.exchange.budget import RequestBudget
from p2pilot.exchange.client import ExchangeClient
from p2pilot.jobs import orders as orders_job
from p2pilot.simulator.server import SimulatorServer
from p2pilot.simulator.wait import wait_until_up
from p2pilot.store import accounts
from p2pilot.store.engine import Store
from p2pilot.store.migrate import upgrade

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def database(kind: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{Path(tempfile.mkdtemp(prefix='p2pilot-tick-')) / 'tick.db'}"
    schema = f"p2pilot_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(POSTGRES).begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def serve(port: int) -> None:
    """The simulator, in the child process, until terminated."""
    server = SimulatorServer(port=port, accounts={"tick": "tick-secret"}, enforce_limits=False)
    server.start()
    threading.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--changed", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key")
    args = parser.parse_args()
    port = free_port()
    sim = multiprocessing.get_context("fork").Process(target=serve, args=(port,), daemon=True)
    sim.start()
    sim_url = f"http://127.0.0.1:{port}"
    if not wait_until_up(sim_url, 15):
        raise SystemExit(f"the simulator at {sim_url} did not come up")
    store = Store(database(args.db))
    upgrade(store)
    with store.transaction() as session:
        account_id = accounts.ensure_account(session, "tick")
    client = ExchangeClient(
        account="tick",
        api_key="tick",
        api_secret="tick-secret",
        base_url=sim_url,
        budget=RequestBudget(reads_per_second=100_000, writes_per_second=100_000),
    )
    clock = Clock()
    job = orders_job.OrdersJob(
        account="tick",
        account_id=account_id,
        client=client,
        store=store,
        sweep_every=timedelta(hours=1),  # the measured ticks read the pending list only
        max_details=1_000_000,  # one tick takes every change (see above)
        clock=clock,
    )
    desk = Desk(sim_url)
    try:
        ids = [desk.new_order(f"{1000 + i}.00")[0] for i in range(args.orders)]
        job.tick()  # stores all of them (and runs the first sweep)

        def measured(label: str) -> tuple[float, float]:
            clock.now += timedelta(seconds=1)
            wall, cpu = time.perf_counter(), time.thread_time()
            written = job.tick()
            cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
            print(
                f"  {label}: {cpu * 1000:6.1f} ms CPU, {wall * 1000:6.1f} ms wall, "
                f"{len(written)} events"
            )
            return cpu, wall

        unchanged = [measured("unchanged")[0] for _ in range(args.rounds)]
        changed: list[float] = []
        for round_ in range(args.rounds):
            for order_id in ids[round_ * args.changed : (round_ + 1) * args.changed]:
                desk.act(order_id, "pay")
            changed.append(measured(f"{args.changed} paid")[0])
        if args.profile:
            for label, moved in (("an unchanged tick", []), ("a tick with changes", ids[-50:])):
                for order_id in moved:
                    desk.act(order_id, "pay")
                clock.now += timedelta(seconds=1)
                profile = cProfile.Profile()
                profile.runcall(job.tick)
                print(f"profile of {label} (in this thread; the simulator's not shown):")
                pstats.Stats(profile).sort_stats(args.profile_sort).print_stats(30)
    finally:
        sim.terminate()
        sim.join()
        store.dispose()
    print(
        f"{args.db}: one tick, {args.orders} active orders: nothing changed "
        f"median {statistics.median(unchanged) * 1000:.1f} ms CPU; {args.changed} changed "
        f"median {statistics.median(changed) * 1000:.1f} ms CPU"
    )


if __name__ == "__main__":
    main()
