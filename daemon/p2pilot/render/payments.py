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
    headers = ["ID", "AMOUNT", "PAYER", "ORDER", "RECEIVED" if wide else "AGE", "REFERENCE"]
    if wide:
        headers += ["SOURCE", "NOTE"]
    grid = table(*headers, right=("ID", "AMOUNT", "AGE"))
    rows: list[list[Text]] = []
    for document in documents:
        received = times.parse(document.get("received_at"))
        order = document.get("order_id")
        when = ""
        if received is not None:
            when = times.both(received, now) if wide else times.relative(received, now)
        cells = [
            # The id is what `payments attach PAYMENT_ID ORDER_ID` takes.
            outside(document.get("id")),
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
    for index in (2, 5):
        grid.columns[index].overflow = "fold"
    console.print(fill(grid, rows, console.width, flexible={2, 5}))


def _why_unmatched(document: Mapping[str, Any]) -> Text:
    """Evidence bound to no order: held back (and why), or waiting for its order."""
    reason = document.get("hold_reason") or document.get("reason")
    if reason:
        return Text.assemble(("held: ", "bold yellow"), outside(reason, "yellow"))
    return Text("unmatched", style="yellow")
