"""Payment evidence -> release, buyer paid -> release, and API calls per sell order.

The simulator runs in this process with Bybit's per-UID limits on; ``p2pilot run``
is a child process (SQLite, ``polling.orders = "1s"``, default budget) with the
evidence hook on loopback and two rules: greet on ``order.created``, release on
``order.paid``/``payment.received`` when the payment is confirmed. Latencies run
from the moment the test acted (evidence POSTed, or the buyer's "paid") to the
``order/finish`` request in the simulator's log. Prints figures; asserts nothing.

    .venv/bin/python bench/release_latency.py [--orders 30]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from typing import Any

from desk import Daemon, Desk, daemon_config, free_port, percentile, post_evidence

from p2pilot.simulator.server import SimulatorServer
from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store

TICK_PATHS = {"/v5/p2p/order/pending/simplifyList", "/v5/p2p/order/simplifyList"}


def stored_status(store: Store, order_id: str) -> int | None:
    with store.transaction(read_only=True) as session:
        view = stored_orders.get_order(session, order_id)
    return view.order.status if view is not None else None


def wait_until(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the daemon did not get there in time")
        time.sleep(0.02)


def finish_time(desk: Desk, order_id: str, since: int) -> float:
    found: list[float] = []

    def released() -> bool:
        found.extend(
            e["time"]
            for e in desk.log(since)
            if e["path"] == "/v5/p2p/order/finish" and e["body"]["orderId"] == order_id
        )
        return bool(found)

    wait_until(released)
    return found[0]


def report(label: str, values: list[float]) -> None:
    ms = [v * 1000 for v in values]
    print(
        f"{label}: p50 {statistics.median(ms):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms, "
        f"max {max(ms):.0f} ms ({len(ms)} orders)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=30, help="orders per scenario")
    parser.add_argument(
        "--evidence-after",
        type=float,
        nargs=2,
        default=(0.0, 0.5),
        metavar=("MIN", "MAX"),
        help="seconds between the order stored as paid and the evidence (scenario 1); "
        "over a second, the release re-reads the order instead of using the tick's read",
    )
    args = parser.parse_args()
    sim = SimulatorServer(port=0, accounts={"bench": "bench-secret"})
    sim.start()
    port = free_port()
    daemon = Daemon(daemon_config(sim.url, name="release", evidence_port=port), "release")
    evidence = f"http://127.0.0.1:{port}"
    desk = Desk(sim.url)
    rng = random.Random(3)
    store = Store(f"sqlite:///{daemon.workdir / 'release.db'}")
    completed: list[str] = []
    try:
        time.sleep(3)  # let it start (a benchmark, not a test)
        first_seq = desk.log()[-1]["seq"] if desk.log() else 0

        # 1. The order is paid and stored as paid; then the bank reports the money.
        after_evidence: list[float] = []
        for n in range(args.orders):
            amount = f"{rng.randint(10_000, 900_000) / 100:.2f}"
            order_id, payer = desk.new_order(amount)
            desk.act(order_id, "pay")
            wait_until(lambda oid=order_id: stored_status(store, oid) == 20)
            time.sleep(rng.uniform(*args.evidence_after))
            since = desk.log()[-1]["seq"]
            sent = time.time()
            post_evidence(evidence, amount=amount, payer=payer, reference=f"a-{n}")
            after_evidence.append(finish_time(desk, order_id, since) - sent)
            completed.append(order_id)

        # 2. The money is reported while the order waits for payment; then the buyer pays.
        after_paid: list[float] = []
        for n in range(args.orders):
            amount = f"{rng.randint(10_000, 900_000) / 100:.2f}"
            order_id, payer = desk.new_order(amount)
            wait_until(lambda oid=order_id: stored_status(store, oid) == 10)
            post_evidence(evidence, amount=amount, payer=payer, reference=f"b-{n}")
            time.sleep(rng.uniform(0.0, 1.0))
            since = desk.log()[-1]["seq"]
            paid = time.time()
            desk.act(order_id, "pay")
            after_paid.append(finish_time(desk, order_id, since) - paid)
            completed.append(order_id)

        time.sleep(12)  # the last orders' chats are read once after they finish
        log = desk.log(first_seq)
    finally:
        daemon.stop()
        sim.stop()
        store.dispose()

    report("payment evidence posted (order paid) -> release request", after_evidence)
    report("buyer marks paid (evidence posted) -> release request", after_paid)
    per_order: Counter[str] = Counter()
    paths: Counter[str] = Counter()
    done = set(completed)
    for entry in log:
        order_id = (entry.get("body") or {}).get("orderId")
        if entry["path"] not in TICK_PATHS and order_id in done:
            per_order[order_id] += 1
            paths[entry["path"].removeprefix("/v5/p2p/")] += 1
    calls = [per_order[o] for o in completed]
    print(
        f"API calls per completed sell order beyond the ticks: mean "
        f"{statistics.mean(calls):.2f}, max {max(calls)} "
        f"({', '.join(f'{p} {n / len(completed):.2f}' for p, n in paths.most_common())})"
    )
    refused = sum(1 for e in log if e.get("ret_code") == 10006)
    print(f"10006 answers: {refused}")


if __name__ == "__main__":
    main()
