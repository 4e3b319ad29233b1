"""Accelerated soak: the daemon's resident memory while thousands of orders go by.

Runs the simulator in this process (rate limits off) and ``p2pilot run`` as a child
process (SQLite, budget raised for loopback), and plays a busy desk: sell orders
arrive, most are paid and released by a rule, some are cancelled, each is greeted.
Samples the daemon's RSS from /proc every few seconds and prints the peak and the
growth over the second half of the run. Prints figures; asserts nothing.

    .venv/bin/python bench/soak.py [--orders 10000] [--minutes 30]
"""

from __future__ import annotations

import argparse
import random
import threading
import time

import requests
from desk import Daemon, Desk, daemon_config, free_port, post_evidence

from p2pilot.simulator.server import SimulatorServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    args = parser.parse_args()
    sim = SimulatorServer(port=0, accounts={"soak": "soak-secret"}, enforce_limits=False)
    sim.start()
    evidence_port = free_port()
    daemon = Daemon(
        daemon_config(
            sim.url,
            name="soak",
            key="soak",
            secret="soak-secret",
            budget="reads_per_second = 200\nwrites_per_second = 100",
            evidence_port=evidence_port,
        ),
        "soak",
    )
    evidence_url = f"http://127.0.0.1:{evidence_port}"
    desk = Desk(sim.url)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        start = time.monotonic()
        while not stop.wait(args.sample):
            samples.append((time.monotonic() - start, daemon.rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    rng = random.Random(7)
    gap = args.minutes * 60 / args.orders
    waiting: list[tuple[float, str, str, str]] = []  # created at, id, amount, payer
    created = paid = cancelled = hook_failures = 0
    try:
        time.sleep(3)  # let it start (a benchmark, not a test)
        sampler.start()
        started = time.monotonic()
        while created < args.orders and time.monotonic() - started < args.minutes * 60:
            now = time.monotonic() - started
            if now >= created * gap:  # on schedule: the next order arrives
                amount = f"{rng.randint(10_000, 900_000) / 100:.2f}"
                order_id, payer = desk.new_order(amount)
                waiting.append((time.monotonic(), order_id, amount, payer))
                created += 1
                if created % 1000 == 0 and samples:
                    print(
                        f"  {created} orders at {now / 60:.1f} min, RSS {samples[-1][1]:.1f} MB",
                        flush=True,
                    )
            else:
                time.sleep(min(created * gap - now, 0.05))
            # Buyers act a second or two after their order appears; the bank reports
            # the fiat of those who paid.
            while waiting and time.monotonic() - waiting[0][0] > 1.5:
                _, order_id, amount, payer = waiting.pop(0)
                if rng.random() < 0.9:
                    desk.act(order_id, "pay")
                    try:
                        post_evidence(evidence_url, amount=amount, payer=payer, reference=order_id)
                    except requests.RequestException as exc:
                        hook_failures += 1
                        print(f"  evidence hook: {type(exc).__name__}", flush=True)
                    paid += 1
                else:
                    desk.act(order_id, "cancel")
                    cancelled += 1
        time.sleep(30)  # let it finish the last ones
        answer = desk.session.get(f"{sim.url}/_sim/orders", timeout=120)
        statuses = [o["status"] for o in answer.json()]
        cpu_seconds = daemon.cpu_seconds()
        elapsed = time.monotonic() - daemon.started
        completed = statuses.count(50)
    finally:
        stop.set()
        daemon.stop()
        sim.stop()
    half = samples[len(samples) // 2][1]
    end = samples[-1][1]
    peak = max(mb for _, mb in samples)
    print(
        f"orders: {created} created, {paid} paid, {cancelled} cancelled, {completed} released; "
        f"evidence hook failures: {hook_failures}"
    )
    print(
        f"RSS: start {samples[0][1]:.1f} MB, half-way {half:.1f} MB, end {end:.1f} MB, "
        f"peak {peak:.1f} MB; growth over the second half {100 * (end - half) / half:+.1f}%"
    )
    print(f"daemon CPU: {cpu_seconds:.0f} s, {100 * cpu_seconds / (elapsed or 1):.0f}% of one core")
    print(f"work dir: {daemon.workdir}")


if __name__ == "__main__":
    main()
