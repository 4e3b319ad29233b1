"""``rates``, ``ads list`` and ``account`` for a person: the market and the account."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from p2pilot.render import times
from p2pilot.render.console import fill, outside, status_text
from p2pilot.render.orders import INDENT, WIDE, money, table

Document = Mapping[str, Any]
AD_STYLES = {"online": "green", "offline": "yellow", "completed": "dim"}


def rates(console: Console, documents: Sequence[Document], now: datetime) -> None:
    """The ``rates --json`` documents: best and reference price per market, with history."""
    if not documents:
        console.print(
            "no rates stored yet (is a [[rates]] entry configured and the daemon running?)"
        )
        return
    wide = console.width >= WIDE
    grid = table("MARKET", "SIDE", "BEST", "REFERENCE", "OFFERS", "SEEN" if wide else "AGE")
    rows: list[list[Text]] = []
    for document in documents:
        rows.append(_rate_row(document, now, wide, market=True))
        for point in document.get("history", []):
            rows.append(_rate_row({**document, **point}, now, wide, market=False))
    for index in (2, 3, 4):
        grid.columns[index].justify = "right"
    console.print(fill(grid, rows, console.width))


def _rate_row(document: Document, now: datetime, wide: bool, *, market: bool) -> list[Text]:
    seen = times.parse(document.get("observed_at"))
    when = "" if seen is None else times.both(seen, now) if wide else times.relative(seen, now)
    currency = document.get("currency")
    name = f"{document.get('token')}/{currency}" if market else "  earlier"
    return [
        outside(name, "bold" if market else "dim"),
        outside(document.get("side") if market else ""),
        money(document.get("best"), currency),
        money(document.get("reference"), currency),
        outside(document.get("offers") if market else ""),
        Text(when, style="" if market else "dim"),
    ]


def ads(console: Console, documents: Sequence[Document]) -> None:
    """The ``ads list --json`` documents."""
    if not documents:
        console.print("no ads")
        return
    wide = console.width >= WIDE
    headers = ["ID", "STATUS", "SIDE", "PRICE", "LEFT", "LIMITS"]
    grid = table(*headers, *(["PAYMENT IDS"] if wide else []))
    rows: list[list[Text]] = []
    for ad in documents:
        cells = [
            outside(ad.get("id")),
            status_text(str(ad.get("status_name"))),
            outside(ad.get("side")),
            money(ad.get("price"), ad.get("currency")),
            money(ad.get("quantity_left"), ad.get("token")),
            outside(f"{ad.get('min_amount')}–{ad.get('max_amount')} {ad.get('currency')}"),
        ]
        if wide:
            cells.append(outside(", ".join(str(p) for p in ad.get("payment_ids", []))))
        rows.append(cells)
    flexible = set(range(5, len(headers) + (1 if wide else 0)))
    for index in flexible:
        grid.columns[index].overflow = "fold"
    console.print(fill(grid, rows, console.width, flexible=flexible))


def accounts(console: Console, documents: Sequence[Document]) -> None:
    """The ``account --json`` documents: who the exchange says each account is."""
    for index, document in enumerate(documents):
        if index:
            console.print()
        name = outside(document.get("account"), "bold")
        if "error" in document:
            console.print(
                Text.assemble(name, ": ", ("error", "bold red"), ": ", outside(document["error"]))
            )
            continue
        console.print(
            Text.assemble(
                name,
                ": ",
                outside(document.get("nickname"), "bold"),
                outside(f" (uid {document.get('user_id')}), KYC {document.get('kyc_level')}, "),
                outside(f"{document.get('total_finish_count')} orders, "),
                outside(f"30-day completion {document.get('recent_rate')}%"),
            )
        )
        methods = document.get("payment_methods") or []
        if not methods:
            console.print(Padding(Text("no payment methods", style="dim"), INDENT, expand=False))
            continue
        grid = table("PAYMENT ID", "METHOD", "TYPE", "BANK")
        rows = [
            [
                outside(m.get("id")),
                outside(m.get("name"), "bold"),
                outside(m.get("type")),
                outside(m.get("bank") or ""),
            ]
            for m in methods
        ]
        console.print(
            Padding(fill(grid, rows, console.width - INDENT[3], flexible={3}), INDENT, expand=False)
        )
