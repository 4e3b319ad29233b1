"""``orders list`` and ``orders show`` for a person: the same documents ``--json`` prints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from p2pilot.render import times
from p2pilot.render.console import fill, outside, status_text

Document = Mapping[str, Any]
# Below this many columns a list shows ages only; above, full times and prices too.
WIDE = 120
INDENT = (0, 0, 0, 2)


def table(*headers: str, right: Sequence[str] = ()) -> Table:
    """A borderless table in the style of ``kubectl get``: bold headers, two-space gaps."""
    grid = Table(
        box=None, pad_edge=False, show_edge=False, header_style="bold", padding=(0, 2, 0, 0)
    )
    for header in headers:
        grid.add_column(header, justify="right" if header in right else "left")
    return grid


def money(amount: object, currency: object) -> Text:
    """``8145.00 RUB``: the exact decimal as stored, with its currency."""
    if amount is None:
        return Text("")
    return outside(f"{amount} {currency or ''}".rstrip())


def orders_list(console: Console, rows: Sequence[Document], now: datetime) -> None:
    """The ``orders list`` table, the columns an operator acts on first."""
    if not rows:
        console.print("no orders stored")
        return
    wide = console.width >= WIDE
    accounts = len({row["account"] for row in rows}) > 1 or wide
    headers = ["ID", "STATUS", "SIDE", "AMOUNT", "COUNTERPARTY"]
    headers += ["CREATED", "PRICE"] if wide else ["AGE"]
    if accounts:
        headers.append("ACCOUNT")
    grid = table(*headers, right=("AMOUNT", "PRICE", "AGE"))
    rows_out: list[list[Text]] = []
    for row in rows:
        created = times.parse(row.get("created_at"))
        cells = [
            outside(row["id"]),
            status_text(row["status_name"]),
            outside(row["side"]),
            money(row.get("amount"), row.get("currency")),
            outside(row.get("counterparty") or "", "bold"),
        ]
        if wide:
            cells += [Text(times.both(created, now)), outside(row.get("price") or "")]
        else:
            cells.append(Text(times.relative(created, now) if created else ""))
        if accounts:
            cells.append(outside(row["account"]))
        rows_out.append(cells)
    # The counterparty gives way on a narrow terminal; an id or a status never does.
    grid.columns[4].overflow = "ellipsis"
    grid.columns[4].no_wrap = True
    console.print(fill(grid, rows_out, console.width, flexible={4}))


def order_detail(console: Console, document: Document, now: datetime) -> None:
    """``orders show``: summary, release decisions, evidence, timeline, chat, actions."""
    console.print(_summary(document, now))
    word = _operators(document.get("operators"), now)
    if word is not None:
        console.print(word)
    releases = [a for a in document.get("actions", []) if "guards" in (a.get("detail") or {})]
    for action in releases:
        console.print()
        console.print(_release(action, document, now))
    sections = (
        ("Evidence", _evidence(document.get("evidence"), document.get("held_evidence"), now)),
        ("Timeline", _timeline(document.get("history", []), now)),
        ("Chat", _chat(document, now)),
        ("Actions", _actions(document.get("actions", []), now, console.width - INDENT[3])),
    )
    for title, body in sections:
        console.print()
        console.print(Text(title, style="bold"))
        console.print(Padding(body, INDENT, expand=False))


def _operators(word: Document | None, now: datetime) -> RenderableType | None:
    """The account's pause, the order's hold and its approvals, when there are any."""
    if not word:
        return None
    lines: list[Text] = []
    paused = word.get("paused")
    if paused:
        lines.append(_word("PAUSED", "bold red", "account paused", paused, "paused_at", now))
    hold = word.get("hold")
    if hold:
        lines.append(_word("HELD", "bold red", "release held", hold, "at", now))
    for approval in word.get("approvals") or []:
        lines.append(_word("APPROVED", "green", "approved", approval, "at", now))
    return Group(*lines) if lines else None


def _word(label: str, style: str, what: str, entry: Document, at: str, now: datetime) -> Text:
    when = times.parse(entry.get(at))
    reason = entry.get("reason")
    return Text.assemble(
        (label, style),
        f" {what} by ",
        outside(entry.get("operator"), "bold"),
        f" ({entry.get('source')})",
        f" {times.relative(when, now)}" if when is not None else "",
        ": " if reason else "",
        outside(reason or ""),
    )


def _summary(document: Document, now: datetime) -> RenderableType:
    title = Text.assemble(
        ("Order ", "bold"),
        outside(document["id"], "bold"),
        "  ",
        status_text(document["status_name"]),
        Text(f" ({document['status']})", style="dim"),
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    quantity = document.get("quantity")
    trade = Text.assemble(
        outside(document["side"], "bold"),
        " ",
        outside(f"{quantity} {document['token']}" if quantity else document["token"]),
        " for ",
        money(document.get("amount"), document.get("currency")),
        outside(f" at {document['price']}") if document.get("price") else "",
    )
    facts.add_row("trade", trade)
    counterparty = outside(document.get("counterparty") or "unknown", "bold")
    if document.get("counterparty_user_id"):
        counterparty.append_text(outside(f" (uid {document['counterparty_user_id']})", "dim"))
    facts.add_row("counterparty", counterparty)
    facts.add_row("account", outside(document["account"]))
    for label, key in (("created", "created_at"), ("paid", "paid_at"), ("updated", "updated_at")):
        moment = times.parse(document.get(key))
        if moment is not None:
            facts.add_row(label, Text(times.both(moment, now)))
    return Group(title, Padding(facts, INDENT, expand=False))


def _release(action: Document, document: Document, now: datetime) -> RenderableType:
    detail = action.get("detail") or {}
    decided = times.parse(action.get("updated_at"))
    guards = list(detail.get("guards") or [])
    heading = Text.assemble(
        ("Release decision", "bold"),
        "  rule ",
        outside(action.get("rule"), "bold"),
        ": ",
        _decision(detail.get("decision"), guards),
        " (",
        status_text(str(action.get("state"))),
        ")",
    )
    if decided is not None:
        heading.append(f"  {times.relative(decided, now)}", style="dim")
    return Group(heading, Padding(guard_table(guards), INDENT, expand=False), *_error(action))


# Guards that say "not automatically" rather than "not safe": when only these
# fail, every safety guard held and the decision is a would-be release.
MODE_GUARDS = frozenset({"auto_release", "release_mode"})


def _decision(decision: object, guards: Sequence[Document]) -> Text:
    failed = {g.get("guard") for g in guards if not g.get("ok")}
    if decision == "refused" and failed and failed <= MODE_GUARDS:
        return Text("would release (shadow mode)", style="bold cyan")
    style = {"release": "green", "refused": "bold red"}.get(str(decision), "yellow")
    return outside(decision or "undecided", style)


def guard_table(guards: Sequence[Document]) -> Table:
    """Guard, value, limit, result: whatever the stored table carries, in its order.

    A guard that compares a figure with a bound stores ``value`` and ``limit``;
    the others say what they checked in ``detail``, shown where there is no pair.
    """
    extra = [key for key in ("value", "limit") if any(key in g for g in guards)]
    with_detail = any(g.get("detail") and not _has_pair(g) for g in guards)
    headers = ["GUARD", *(key.upper() for key in extra), "RESULT"]
    if with_detail:
        headers.append("DETAIL")
    grid = table(*headers)
    grid.columns[0].no_wrap = True
    for guard in guards:
        ok = bool(guard.get("ok"))
        cells: list[RenderableType] = [outside(guard.get("guard") or guard.get("name"))]
        cells += [outside(guard.get(key, "")) for key in extra]
        cells.append(Text("ok", style="green") if ok else Text("NO", style="bold red"))
        if with_detail:
            cells.append(outside("" if _has_pair(guard) else guard.get("detail") or ""))
        grid.add_row(*cells)
    return grid


def _has_pair(guard: Document) -> bool:
    return "value" in guard and "limit" in guard


def _error(action: Document) -> list[RenderableType]:
    error = action.get("error")
    if not error:
        return []
    return [Padding(Text.assemble(("why: ", "dim"), outside(error)), INDENT, expand=False)]


def _evidence(
    evidence: Document | None, held: Sequence[Document] | None, now: datetime
) -> RenderableType:
    lines: list[RenderableType] = []
    if evidence:
        lines.append(_payment_line(evidence, now))
    for piece in held or ():
        # Fits this order but kept from binding by itself: `payments attach` decides.
        line = Text.assemble(("held ", "bold yellow"), _payment_line(piece, now))
        reason = piece.get("hold_reason")
        if reason:
            line.append_text(Text.assemble(": ", outside(reason, "yellow")))
        if piece.get("note"):
            line.append_text(outside(f" ({piece['note']})", "dim"))
        lines.append(line)
    return Group(*lines) if lines else Text("none matched", style="dim")


def _payment_line(evidence: Document, now: datetime) -> Text:
    received = times.parse(evidence.get("received_at"))
    payer = evidence.get("payer_name")
    return Text.assemble(
        outside(f"#{evidence.get('id')} ", "dim"),
        money(evidence.get("amount"), evidence.get("currency")),
        " from ",
        outside(payer, "bold") if payer else Text("an unnamed payer", style="dim"),
        ", reference ",
        outside(evidence.get("reference")),
        ", via ",
        outside(evidence.get("source")),
        f", received {times.both(received, now)}" if received else "",
    )


def _clock(moment: datetime | None, now: datetime) -> list[Text]:
    if moment is None:
        return [Text(""), Text("")]
    stamp = moment.strftime("%H:%M:%S") if (now - moment).days < 1 else times.absolute(moment)
    return [Text(stamp), Text(times.relative(moment, now), style="dim")]


def _timeline(history: Sequence[Document], now: datetime) -> RenderableType:
    if not history:
        return Text("nothing recorded", style="dim")
    grid = Table.grid(padding=(0, 2))
    for _ in range(4):
        grid.add_column(no_wrap=True)
    for entry in history:
        grid.add_row(
            *_clock(times.parse(entry.get("at")), now),
            outside(entry.get("type")),
            outside(entry.get("detail") or ""),
        )
    return grid


SYSTEM_ROLES = {"sys": "system", "alarm": "system (alarm)", "customer_support": "Bybit support"}


def sender_name(message: Document, counterparty_uid: object) -> Text:
    """Who wrote it: the nickname, the system as such, never ``None``."""
    role = message.get("role")
    if role in SYSTEM_ROLES:
        return Text(SYSTEM_ROLES[role], style="italic dim")
    name = message.get("sender")
    if name:
        mine = counterparty_uid and message.get("sender_user_id") not in (None, counterparty_uid)
        return outside(name, "cyan" if mine else "bold")
    return Text("unknown sender", style="dim")


def _chat(document: Document, now: datetime) -> RenderableType:
    messages = document.get("chat") or []
    if not messages:
        return Text("no messages", style="dim")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True, style="dim")
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for message in messages:
        text = message.get("text") or ""
        if message.get("content_type") not in (None, "str"):
            text = f"[{message.get('content_type')}] {text}"
        grid.add_row(
            *_clock(times.parse(message.get("created_at")), now),
            sender_name(message, document.get("counterparty_user_id")),
            outside(text),
        )
    return grid


def _actions(actions: Sequence[Document], now: datetime, width: int) -> RenderableType:
    if not actions:
        return Text("none taken", style="dim")
    grid = Table.grid(padding=(0, 2))
    for _ in range(6):
        grid.add_column()
    # One line each: the note is cut, the full text is in the chat and in --json.
    grid.columns[5].overflow = "ellipsis"
    grid.columns[5].no_wrap = True
    rows = [
        [
            *_clock(times.parse(action.get("updated_at")), now),
            outside(action.get("kind"), "bold"),
            outside(action.get("rule")),
            status_text(str(action.get("state"))),
            _action_note(action),
        ]
        for action in actions
    ]
    return fill(grid, rows, width, flexible={5})


def _action_note(action: Document) -> Text:
    """One line on what the action did or why not: the error, the decision, the text sent."""
    detail = action.get("detail") or {}
    note = Text()
    attempts = action.get("attempts") or 0
    if attempts > 1:
        note.append(f"{attempts} attempts  ", style="dim")
    if action.get("error"):
        note.append_text(outside(action["error"]))
    elif "decision" in detail:
        note.append_text(outside(f"decision: {detail['decision']}"))
    elif detail.get("text"):
        note.append_text(outside(f"“{detail['text']}”"))
    elif detail.get("url"):
        note.append_text(outside(detail["url"]))
    return note
