"""``payments list`` for a person: what arrived, from whom, and which order it paid."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from p2pilot.render import times
from p2pilot.render.console import fill, outside
from p2pilot.render.orders import WIDE, money, table


def payments_list(
    console: Console, documents: Sequence[Mapping[str, Any]], now: datetime, *, unmatched: bool
) -> None:
    """The ``payments list --json`` documents as a table, newest first."""
    if not documents:
        console.print(
            "no unmatched payment evidence" if unmatched else "no payment evidence stored"
        )
        return
    wide = console.width >= WIDE
    headers = ["AMOUNT", "PAYER", "ORDER", "RECEIVED" if wide else "AGE", "REFERENCE"]
    if wide:
        headers += ["SOURCE", "NOTE"]
    grid = table(*headers, right=("AMOUNT", "AGE"))
    rows: list[list[Text]] = []
    for document in documents:
        received = times.parse(document.get("received_at"))
        order = document.get("order_id")
        when = ""
        if received is not None:
            when = times.both(received, now) if wide else times.relative(received, now)
        cells = [
            money(document.get("amount"), document.get("currency")),
            outside(document.get("payer_name") or "", "bold"),
            outside(order, "green") if order else _why_unmatched(document),
            Text(when),
            outside(document.get("reference")),
        ]
        if wide:
            cells += [outside(document.get("source")), outside(document.get("note") or "")]
        rows.append(cells)
    # The payer and the reference fold on a narrow terminal; amounts and orders never do.
    for index in (1, 4):
        grid.columns[index].overflow = "fold"
    console.print(fill(grid, rows, console.width, flexible={1, 4}))


def _why_unmatched(document: Mapping[str, Any]) -> Text:
    # Issue 11 adds a reason (ambiguous, possible duplicate, ...) to held evidence.
    reason = document.get("reason") or document.get("hold_reason")
    return Text.assemble(("unmatched", "yellow"), outside(f" ({reason})" if reason else ""))
