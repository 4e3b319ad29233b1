"""p2pilot beside the polling pattern the peer bots use, on the same simulated desk.

The peers (the open-source Bybit P2P scripts of reference §8) poll the pending list
every 5 s, read every pending order's detail on every tick, and read every order's
chat on every tick; they reply to an order the first time they see it. The same
scenario runs twice on a fresh simulator (Bybit's per-UID limits on): once with
``p2pilot run`` (``polling.orders = "1s"``), once with that loop driving the same
exchange client. Orders arrive at random moments and stay open, as on a busy desk.
Prints both, and their ratios; asserts nothing.

    .venv/bin/python bench/peer_pattern.py [--orders 20]
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from collections.abc import Callable

from desk import Daemon, Desk, daemon_config, percentile

from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import ExchangeError
from p2pilot.simulator.server import SimulatorServer

SEND = "/v5/p2p/order/message/send"


def peer_loop(client: ExchangeClient, stop: threading.Event) -> None:
    """The peers' pattern: every 5 s, the pending list, each order's detail and chat."""
    replied: set[str] = set()
    while not stop.is_set():
        try:
            pending = client.pending_orders().items
            for order in pending:
                client.order_detail(order.id)
            for order in pending:
                client.chat_messages(order.id)
                if order.id not in replied:
                    client.send_chat_message(
                        order_id=order.id, text="Hi, please pay", msg_uuid=order.id
                    )
                    replied.add(order.id)
        except ExchangeError:
            pass  # they log and go on
        stop.wait(5)


def run(orders: int, seed: int, start: Callable[[str], Callable[[], None]]) -> dict[str, float]:
    """One scenario on a fresh simulator; latency figures and API calls per minute."""
    sim = SimulatorServer(port=0, accounts={"bench": "bench-secret"})
    sim.start()
    desk = Desk(sim.url)
    rng = random.Random(seed)
    finish = start(sim.url)
    try:
        time.sleep(3)  # let it start (a benchmark, not a test)
        begin = time.time()
        created: dict[str, float] = {}
        for _ in range(orders):
            time.sleep(rng.uniform(0.3, 1.7))
            order_id, _ = desk.new_order(f"{rng.randint(10_000, 900_000) / 100:.2f}")
            created[order_id] = time.time()
        time.sleep(8)
        log = [e for e in desk.log() if e["time"] >= begin]
    finally:
        finish()
        sim.stop()
    sent: dict[str, float] = {}
    for entry in log:
        if entry["path"] == SEND and entry["ret_code"] == 0:
            sent.setdefault(entry["body"]["orderId"], entry["time"])
    latency = [sent[o] - t for o, t in created.items() if o in sent]
    minutes = (log[-1]["time"] - begin) / 60
    return {
        "p50": statistics.median(latency),
        "p99": percentile(latency, 0.99),
        "replied": len(latency),
        "calls_per_min": len(log) / minutes,
        "refused": sum(1 for e in log if e.get("ret_code") == 10006),
    }


def ours(url: str) -> Callable[[], None]:
    daemon = Daemon(daemon_config(url, name="peer"), "peer")
    return daemon.stop


def theirs(url: str) -> Callable[[], None]:
    client = ExchangeClient(
        account="peer", api_key="bench", api_secret="bench-secret", base_url=url
    )
    stop = threading.Event()
    thread = threading.Thread(target=peer_loop, args=(client, stop), daemon=True)
    thread.start()

    def finish() -> None:
        stop.set()
        thread.join(30)

    return finish


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=20)
    args = parser.parse_args()
    a = run(args.orders, 11, ours)
    b = run(args.orders, 11, theirs)
    print(f"{'':28} {'p2pilot':>10} {'peer bots':>10} {'ratio':>7}")
    for key, label, unit in [
        ("p50", "new order -> reply, p50", "s"),
        ("p99", "new order -> reply, p99", "s"),
        ("calls_per_min", "API calls per minute", ""),
    ]:
        print(f"{label:28} {a[key]:>9.2f}{unit} {b[key]:>9.2f}{unit} {a[key] / b[key]:>7.2f}")
    print(f"{'orders replied':28} {a['replied']:>10.0f} {b['replied']:>10.0f}")
    print(f"{'10006 answers':28} {a['refused']:>10.0f} {b['refused']:>10.0f}")


if __name__ == "__main__":
    main()
