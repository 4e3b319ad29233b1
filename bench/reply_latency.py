"""New order -> auto-reply reaching the exchange, and the API cost of an idle desk.

Runs the simulator in this process and ``p2pilot run`` as a child process
(``polling.orders = "1s"``, SQLite), creates orders at random moments, and reads
the simulator's request log. Prints figures; asserts nothing.

    .venv/bin/python bench/reply_latency.py [--orders 30] [--idle 60] [--moved]

``--moved`` plays Bybit's chat move: per-order chat routes answer HTTP 404, session
messages leave the order list's counter alone, ``listpage_v1`` answers nothing when
``lastId`` is sent. The greeting then goes out through session chat (``send_v1``).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from p2pilot.simulator.server import SimulatorServer

CONFIG = """
[database]
url = "sqlite:///{db}"
[logging]
format = "json"
level = "warning"
[[accounts]]
name = "bench"
api_key = "bench"
api_secret = "bench-secret"
base_url = "{url}"
[polling]
orders = "1s"
sweep = "30s"
[[rules]]
name = "greet"
on = "order.created"
reply = "Hi {{order.counterparty}}, please pay {{order.amount}} {{order.currency}}"
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=30)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle desk to count")
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds between the cancels and the count"
    )
    parser.add_argument("--moved", action="store_true", help="per-order chat removed (404)")
    args = parser.parse_args()
    sim = SimulatorServer(port=0, accounts={"bench": "bench-secret"})
    sim.start()
    send_path = "/v5/p2p/order/message/send"
    if args.moved:
        moved = {
            "order_api": "http_404",
            "session_messages_on_order_list": False,
            "listpage_v1_empty_with_last_id": True,
        }
        requests.post(f"{sim.url}/_sim/chat", json=moved, timeout=5).raise_for_status()
        send_path = "/v5/p2p/chat/message/send_v1"
    workdir = Path(tempfile.mkdtemp(prefix="p2pilot-bench-"))
    config = workdir / "bench.toml"
    config.write_text(CONFIG.format(db=workdir / "bench.db", url=sim.url))
    daemon = subprocess.Popen(
        [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    rng = random.Random(1)
    try:
        time.sleep(3)  # let it start and settle (a benchmark, not a test)
        created: dict[str, float] = {}
        for _ in range(args.orders):
            time.sleep(rng.uniform(0.3, 1.7))
            answer = requests.post(
                f"{sim.url}/_sim/orders",
                json={"side": "sell", "amount": "1000.00", "price": "81.00"},
                timeout=5,
            ).json()
            created[answer["id"]] = time.time()
        time.sleep(3)
        log = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
        sent = {e["body"]["orderId"]: e["time"] for e in log if e["path"] == send_path}
        latencies = [sent[oid] - t for oid, t in created.items() if oid in sent]
        # An idle desk has no pending orders: buyers cancel them all first.
        for oid in created:
            requests.post(f"{sim.url}/_sim/orders/{oid}/cancel", json={}, timeout=5)
        # Let the daemon see them finish (a sweep is 30 s) and read each chat one last
        # time (background reads: a quarter of the budget).
        time.sleep(args.settle)
        start = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()[-1]["seq"]
        time.sleep(args.idle)
        idle = requests.get(f"{sim.url}/_sim/requests", params={"since": start}, timeout=5).json()
        per_minute = len(idle) * 60 / args.idle
        chat_calls = [e for e in idle if "message" in e["path"]]
        for call in chat_calls[:5]:
            print("  idle chat call:", call["path"], call.get("body"))
        sessions = [e for e in idle if e["path"].endswith("/chat/session/list_v1")]
        refused = [e for e in log if e.get("ret_code") == 10006]
        print(f"orders: {len(created)}, replied: {len(latencies)}, 10006 answers: {len(refused)}")
        if latencies:
            print(
                f"new order -> reply request: p50 {statistics.median(latencies):.3f} s, "
                f"p99 {percentile(latencies, 0.99):.3f} s, max {max(latencies):.3f} s"
            )
        else:
            print("new order -> reply request: no reply reached the exchange")
        print(
            f"idle desk: {per_minute:.1f} API calls/min, {len(chat_calls)} chat calls, "
            f"{len(sessions)} session-list calls in {args.idle:.0f} s"
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(10)
        sim.stop()


if __name__ == "__main__":
    main()
