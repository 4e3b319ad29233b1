"""``orders pending`` for a person: the releases waiting for an operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from p2pilot.operator.queue import operators_word
from p2pilot.render import times
from p2pilot.render.console import fill, outside
from p2pilot.render.orders import money, table


def approval_list(console: Console, queue: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """The ``orders pending --json`` documents as a table, oldest first."""
    if not queue:
        console.print("no release waits for an operator")
        return
    headers = ("ID", "ACCOUNT", "AMOUNT", "COUNTERPARTY", "WAITING", "OPERATORS", "WHY")
    grid = table(*headers, right=("AMOUNT", "WAITING"))
    rows: list[list[Text]] = []
    for entry in queue:
        since = times.parse(entry.get("waiting_since"))
        rows.append(
            [
                outside(entry["id"]),
                outside(entry["account"]),
                money(entry.get("amount"), entry.get("currency")),
                outside(entry.get("counterparty") or "", "bold"),
                Text(times.relative(since, now) if since else ""),
                _operators(entry.get("standing") or {}),
                outside(entry.get("why") or ""),
            ]
        )
    grid.columns[6].overflow = "fold"
    console.print(fill(grid, rows, console.width, flexible={6}))


def _operators(standing: Mapping[str, Any]) -> Text:
    word = operators_word(standing)
    if word is None:
        return Text("nobody yet", "dim")
    return outside(word, "bold red" if standing.get("hold") else "green")
