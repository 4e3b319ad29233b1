"""The renderers' building blocks: ages, the guard table, escaping inside tables."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from p2pilot.render import times
from p2pilot.render.orders import guard_table, orders_list

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def screen(width: int = 80) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=width, color_system=None, markup=False), out


def test_ages_read_like_a_person_says_them() -> None:
    def ago(**delta: float) -> str:
        return times.relative(NOW - timedelta(**delta), NOW)

    assert ago(seconds=1) == "just now"
    assert ago(seconds=42) == "42 s ago"
    assert ago(minutes=3, seconds=20) == "3 min ago"
    assert ago(hours=2, minutes=5) == "2 h 5 min ago"
    assert ago(hours=30) == "1 day ago"
    assert ago(days=4) == "4 days ago"
    assert times.relative(NOW + timedelta(minutes=3), NOW) == "in 3 min"
    assert times.both(NOW - timedelta(minutes=3), NOW) == "2026-11-30 11:57:00 UTC (3 min ago)"


def test_guard_table_shows_value_and_limit_where_stored_and_detail_elsewhere() -> None:
    console, out = screen()
    guards = [
        {
            "guard": "max_amount",
            "ok": True,
            "detail": "x",
            "value": "4048 RUB",
            "limit": "5000 RUB",
        },
        {"guard": "not_in_appeal", "ok": False, "detail": "appeal opened"},
        {"guard": "some_future_guard", "ok": True, "detail": "new"},
    ]
    console.print(guard_table(guards))
    header, *rows = [line.split() for line in out.getvalue().splitlines()]
    assert header == ["GUARD", "VALUE", "LIMIT", "RESULT", "DETAIL"]
    assert rows[0] == ["max_amount", "4048", "RUB", "5000", "RUB", "ok"]
    assert rows[1] == ["not_in_appeal", "NO", "appeal", "opened"]
    assert rows[2] == ["some_future_guard", "ok", "new"]  # a guard added later shows as is


def test_guard_table_without_value_columns_reads_the_old_rows() -> None:
    console, out = screen()
    console.print(guard_table([{"guard": "max_amount", "ok": True, "detail": "1 <= 2"}]))
    assert out.getvalue().splitlines()[0].split() == ["GUARD", "RESULT", "DETAIL"]


def test_outside_text_is_escaped_and_never_markup_inside_tables() -> None:
    console, out = screen(200)
    row = {
        "id": "1",
        "account": "desk",
        "side": "sell",
        "status_name": "paid",
        "amount": "10.00",
        "currency": "RUB",
        "counterparty": "[bold]x\x1b[2J\u202e",
        "created_at": NOW.isoformat(),
        "price": "81",
    }
    orders_list(console, [row], NOW)
    text = out.getvalue()
    assert "[bold]x\\x1b[2J\\u202e" in text and "\x1b" not in text


def test_operators_word_and_the_audit_read_as_sentences() -> None:
    from p2pilot.render.audit import audit_list
    from p2pilot.render.orders import _operators

    console, out = screen(100)
    at = (NOW - timedelta(minutes=3)).isoformat()
    word = _operators(
        {
            "paused": {"operator": "alice", "source": "cli", "reason": None, "paused_at": at},
            "hold": {"operator": "bob", "source": "console", "reason": "<b>why</b>", "at": at},
            "approvals": [],
        },
        NOW,
    )
    assert word is not None and _operators({"approvals": []}, NOW) is None
    console.print(word)
    assert out.getvalue().splitlines() == [
        "PAUSED account paused by alice (cli) 3 min ago",
        "HELD release held by bob (console) 3 min ago: <b>why</b>",
    ]
    console, out = screen(120)
    audit_list(
        console,
        [
            {
                "at": at,
                "operator": "alice",
                "source": "cli",
                "command": "approve",
                "account": "desk",
                "order_id": "42",
                "outcome": "refused",
                "detail": "refused: order cancelled",
            }
        ],
        NOW,
    )
    header, row = out.getvalue().splitlines()
    assert header.split() == [
        "WHEN", "OPERATOR", "SOURCE", "COMMAND", "ACCOUNT", "ORDER", "OUTCOME", "DETAIL"
    ]  # fmt: skip
    assert "alice" in row and "refused: order cancelled" in row and "approve" in row
