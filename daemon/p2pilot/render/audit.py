"""``p2pilot audit`` for a person: who did what, from where, and what came of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from p2pilot.render import times
from p2pilot.render.console import fill, outside
from p2pilot.render.orders import WIDE, table


def audit_list(console: Console, documents: Sequence[Mapping[str, Any]], now: datetime) -> None:
    """The ``audit --json`` documents as a table, newest first."""
    if not documents:
        console.print("no operator command recorded yet")
        return
    wide = console.width >= WIDE
    headers = ["WHEN", "OPERATOR", "COMMAND", "ORDER", "OUTCOME", "DETAIL"]
    if wide:
        headers.insert(2, "SOURCE")
        headers.insert(4, "ACCOUNT")
    grid = table(*headers)
    rows: list[list[Text]] = []
    for document in documents:
        at = times.parse(document.get("at"))
        when = "" if at is None else (times.both(at, now) if wide else times.relative(at, now))
        ok = document.get("outcome") == "ok"
        cells = [Text(when), outside(document.get("operator"), "bold")]
        if wide:
            cells.append(outside(document.get("source")))
        cells.append(outside(document.get("command")))
        if wide:
            cells.append(outside(document.get("account") or ""))
        cells += [
            outside(document.get("order_id") or ""),
            outside(document.get("outcome"), "green" if ok else "bold red"),
            outside(document.get("detail")),
        ]
        rows.append(cells)
    detail = len(headers) - 1
    grid.columns[detail].overflow = "fold"
    console.print(fill(grid, rows, console.width, flexible={detail}))
