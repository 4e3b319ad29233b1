"""``p2pilot run`` under a stand-in for systemd: READY, WATCHDOG cadence, STOPPING."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .conftest import QUICK_TICK, SECRET_ENV, SimProcess, cli, free_port, wait_for, write_config


def test_run_speaks_the_notify_protocol(simulator: SimProcess, tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "p2pilot.toml", db_url=f"sqlite:///{tmp_path / 'p.db'}", base_url=simulator.url
    )
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(20)
        env = {
            **os.environ,
            **SECRET_ENV,
            "NOTIFY_SOCKET": path,
            "WATCHDOG_USEC": "1000000",  # ping every 0.5 s
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            messages: list[list[str]] = []
            deadline = time.monotonic() + 20
            while sum("WATCHDOG=1" in m for m in messages) < 3 and time.monotonic() < deadline:
                messages.append(sock.recv(4096).decode().split("\n"))
            first = messages[0]
            assert first[0] == "READY=1" and first[1].startswith("STATUS=1 account(s) polling")
            assert sum("WATCHDOG=1" in m for m in messages) >= 3
            # A second daemon on the same SQLite file is refused while this one runs.
            second = cli("--config", str(config), "run", "--once", env=SECRET_ENV)
            assert second.returncode == 1
            assert "another p2pilot daemon" in second.stderr
            process.send_signal(signal.SIGTERM)
            last: list[str] = []
            while "STOPPING=1" not in last:
                last = sock.recv(4096).decode().split("\n")
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def greet(text: str) -> str:
    return f"""
[[rules]]
name = "greet"
on = "order.created"
reply = "{text}"
"""


def test_sighup_reloads_rules_and_refuses_a_broken_config(
    simulator: SimProcess, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'p.db'}"
    path = tmp_path / "p2pilot.toml"
    config = write_config(
        path, db_url=db_url, base_url=simulator.url, extra=greet("Hello A"), tick=QUICK_TICK
    )
    output = tmp_path / "out.log"
    with output.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
            env={**os.environ, **SECRET_ENV},
            stdout=sink,
            stderr=subprocess.DEVNULL,
        )

    def sent_texts() -> list[str]:
        log = simulator.control("GET", "requests")
        return [
            e["body"]["message"]  # type: ignore[index]
            for e in log  # type: ignore[union-attr]
            if e["path"] == "/v5/p2p/order/message/send"  # type: ignore[index]
        ]

    def new_order_greeted_with(text: str) -> None:
        before = sent_texts().count(text)
        simulator.control("POST", "orders", side="sell", amount="100.00", price="81.00")
        wait_for(lambda: sent_texts().count(text) > before, timeout=20)

    def logged(event: str) -> dict[str, object]:
        def find() -> dict[str, object] | None:
            for line in output.read_text(encoding="utf-8").splitlines():
                if line.startswith("{") and json.loads(line)["event"] == event:
                    return json.loads(line)  # type: ignore[no-any-return]
            return None

        return wait_for(find, timeout=20)  # type: ignore[no-any-return]

    try:
        new_order_greeted_with("Hello A")
        write_config(
            path, db_url=db_url, base_url=simulator.url, extra=greet("Hello B"), tick=QUICK_TICK
        )
        process.send_signal(signal.SIGHUP)
        assert logged("config.reloaded")["rules"] == ["greet"]
        new_order_greeted_with("Hello B")

        path.write_text("[[rules]]\nname = 'broken'\non = 'no.such.event'\n", encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        assert "no.such.event" in str(logged("config.reload_refused")["error"])
        new_order_greeted_with("Hello B")  # the running config stays
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_metrics_are_scraped_over_http(simulator: SimProcess, tmp_path: Path) -> None:
    port = free_port()
    simulator.control("POST", "orders", side="sell", amount="100.00", price="81.00")
    config = write_config(
        tmp_path / "p2pilot.toml",
        db_url=f"sqlite:///{tmp_path / 'p.db'}",
        base_url=simulator.url,
        extra=greet("Hello") + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n',
        tick=QUICK_TICK,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "p2pilot", "--config", str(config), "run"],
        env={**os.environ, **SECRET_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def scrape() -> str | None:
        try:
            text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except requests.ConnectionError:
            return None
        done = 'p2pilot_actions_total{kind="reply",state="succeeded"} 1.0'
        return text if done in text and "p2pilot_order_to_reply_seconds_count 1.0" in text else None

    try:
        text = wait_for(scrape, timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)
    for name in (
        "p2pilot_poll_duration_seconds_bucket",
        'p2pilot_api_calls_total{account="desk",endpoint="/v5/p2p/order/message/send",result="ok"}',
        'p2pilot_events_total{type="order.created"}',
        'p2pilot_actions_total{kind="reply",state="succeeded"}',
        "p2pilot_oldest_paid_order_age_seconds 0.0",
        "p2pilot_rate_limit_hits_total",
        "p2pilot_event_to_release_seconds",
    ):
        assert name in text, name
