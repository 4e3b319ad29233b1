"""``p2pilot logs`` on a log the daemon really wrote: every line has its fields; filters work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests import forkcli

from .conftest import SECRET_ENV, SimProcess, cli, write_config

RULES = """
[[rules]]
name = "greet"
on = "order.created"
reply = "Hi {order.counterparty}"
"""


def logs(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return forkcli.p2pilot("logs", *args, input=stdin)


def test_logs_filters_a_recorded_log(simulator: SimProcess, tmp_path: Path) -> None:
    created = simulator.control("POST", "orders", side="sell", amount="100.00", price="81.00")
    first = str(created["id"])  # type: ignore[index]
    simulator.control("POST", "orders", side="sell", amount="200.00", price="81.00")
    config = write_config(
        tmp_path / "p2pilot.toml",
        db_url=f"sqlite:///{tmp_path / 'p.db'}",
        base_url=simulator.url,
        extra=RULES,
    )
    ran = cli("--config", str(config), "run", "--once", env=SECRET_ENV)  # logs on stdout
    assert ran.returncode == 0, ran.stderr
    record = tmp_path / "p2pilot.log"
    record.write_text(ran.stdout + "not a log line\n", encoding="utf-8")

    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert lines and all({"event", "level", "timestamp", "account"} <= set(x) for x in lines)

    everything = logs(str(record), "--json")
    assert everything.returncode == 0
    assert len(json.loads(everything.stdout)) == len(lines)
    assert "skipped 1 line" in everything.stderr

    mine = json.loads(logs(str(record), "--order", first, "--json").stdout)
    assert mine and all(x["order_id"] == first for x in mine)
    assert {"order.created", "reply.sent"} <= {x["event"] for x in mine}

    replies = json.loads(logs(str(record), "--event", "reply.*", "--json").stdout)
    assert len(replies) == 2 and all(x["event"] == "reply.sent" for x in replies)
    assert json.loads(logs(str(record), "--level", "error", "--json").stdout) == []
    assert json.loads(logs(str(record), "--since", "1h", "--account", "desk", "--json").stdout)
    assert json.loads(logs(str(record), "--until", "2000-01-01T00:00:00", "--json").stdout) == []

    piped = logs("--order", first, stdin=ran.stdout)  # journalctl -o cat | p2pilot logs
    assert piped.returncode == 0
    text_lines = piped.stdout.splitlines()
    assert text_lines and all(f"order_id={first}" in line for line in text_lines)
    assert any(" INFO " in line and "reply.sent" in line for line in text_lines)

    bad = logs(str(record), "--level", "loud")
    assert bad.returncode == 2 and "--level" in bad.stderr
