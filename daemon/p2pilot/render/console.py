"""The one place that decides how output looks: colour, width, escaping of outside text.

Colour only on a terminal and never with ``NO_COLOR`` (https://no-color.org).
Off a terminal (a pipe, a file) there is no escape sequence at all and lines are
not cut at 80 columns, so ``grep`` and ``less`` see whole rows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from p2pilot.terminal import printable

# Wide enough for any row we print; tables never pad to it (they do not expand).
PIPE_WIDTH = 200

# Status names as an operator reads them: what needs them now stands out.
STATUS_STYLES = {
    "awaiting_payment": "cyan",
    "paid": "bold yellow",
    "appeal": "bold red",
    "objectioning": "bold red",
    "awaiting_objection": "bold red",
    "completed": "green",
    "cancelled": "dim",
    "cancelled_exception": "dim",
    "payment_failed": "red",
    # ledger states
    "succeeded": "green",
    "failed": "bold red",
    "unknown": "bold yellow",
    "pending": "yellow",
    "sent": "yellow",
    "skipped": "dim",
    "dry_run": "cyan",
    "awaiting": "bold magenta",
    # health
    "ok": "green",
    "stale": "bold red",
    "held": "bold red",
    "unmatched": "yellow",
    "matched": "green",
}


def make_console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (stdout by default) that follows the rules above."""
    target = stream if stream is not None else sys.stdout
    try:
        terminal = bool(target.isatty())
    except (AttributeError, ValueError):
        terminal = False
    colour = terminal and not os.environ.get("NO_COLOR")
    return Console(
        file=target,
        force_terminal=terminal,
        color_system="auto" if colour else None,
        width=None if terminal else PIPE_WIDTH,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def outside(text: object, style: str = "") -> Text:
    """Text from outside (a buyer, the exchange): shown, never obeyed, never read as markup."""
    return Text(printable("" if text is None else text), style=style)


def status_text(name: str, label: str | None = None) -> Text:
    """A status name, coloured by what it asks of the operator."""
    return Text(printable(label if label is not None else name), style=STATUS_STYLES.get(name, ""))


def fill(
    grid: Table, rows: Sequence[Sequence[Text]], width: int, flexible: Collection[int] = ()
) -> Table:
    """Add ``rows``; every column but the ``flexible`` ones keeps its full width.

    On a narrow terminal the flexible columns (a nickname, a note) share what is
    left of ``width`` and give way with an ellipsis or fold, so an id, a status
    or an amount is never cut. Columns are two cells apart.
    """
    fixed = 0
    for index, column in enumerate(grid.columns):
        cells = [row[index].cell_len for row in rows]
        widest = max([*cells, Text(str(column.header)).cell_len if grid.show_header else 0])
        if index in flexible:
            continue
        column.min_width = column.max_width = widest
        column.no_wrap = True
        fixed += widest
    if flexible:
        left = width - fixed - 2 * (len(grid.columns) - 1)
        for index in flexible:
            grid.columns[index].max_width = max(left // len(flexible), 4)
    for row in rows:
        grid.add_row(*row)
    return grid
