"""``status`` for a person: one verdict line, a table per job, the buyer who waits longest."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from p2pilot.render import times
from p2pilot.render.console import fill, outside, status_text
from p2pilot.render.orders import WIDE, table


def status(console: Console, document: Mapping[str, Any], now: datetime) -> None:
    """The ``status --json`` document as a verdict, a job table and the oldest paid order."""
    jobs = document.get("jobs") or []
    stale = [j for j in jobs if j.get("stale")]
    if not jobs:
        console.print("no enabled account: nothing to check")
    elif stale:
        console.print(
            Text.assemble(
                ("STALE", "bold red"),
                f": {len(stale)} of {len(jobs)} jobs have not succeeded for three of their"
                " intervals (is the daemon running and the exchange reachable?)",
            )
        )
    else:
        console.print(Text.assemble(("healthy", "bold green"), f": {len(jobs)} jobs up to date"))
    if jobs:
        console.print()
        console.print(_jobs_table(console, jobs, now))
    for name, pause in sorted((document.get("paused") or {}).items()):
        console.print()
        console.print(
            Text.assemble(
                ("PAUSED", "bold red"),
                " account ",
                outside(name, "bold"),
                ": no releases until `p2pilot accounts resume ",
                outside(name),
                "` (paused by ",
                outside(pause.get("operator")),
                ": " if pause.get("reason") else "",
                outside(pause.get("reason") or ""),
                ")",
            )
        )
    waiting = document.get("oldest_awaiting_release")
    if waiting:
        paid = times.parse(waiting.get("paid_at"))
        console.print()
        console.print(
            Text.assemble(
                ("oldest paid order awaiting release: ", "bold"),
                outside(waiting.get("order_id"), "bold yellow"),
                " (",
                outside(waiting.get("account")),
                "), paid ",
                times.both(paid, now) if paid else "at an unknown time",
            )
        )
    host = document.get("host")
    if host and not host.get("fits"):
        console.print()
        console.print(Text.assemble(("host budget short: ", "bold yellow"), str(host["advice"])))


def _jobs_table(console: Console, jobs: list[Mapping[str, Any]], now: datetime) -> Any:
    wide = console.width >= WIDE
    failing = any(job.get("consecutive_failures") for job in jobs)
    headers = ["STATE", "ACCOUNT", "JOB", "LAST SUCCESS"]
    if failing:
        headers += ["FAILURES", "LAST ERROR"]
    grid = table(*headers, right=("FAILURES",))
    rows: list[list[Text]] = []
    for job in jobs:
        last = times.parse(job.get("last_success_at"))
        if last is None:
            success = "never"
        elif wide:
            success = times.both(last, now)
        else:
            success = times.relative(last, now)
        stale = bool(job.get("stale"))
        cells = [
            status_text("stale" if stale else "ok", "STALE" if stale else "ok"),
            outside(job.get("account")),
            outside(job.get("job")),
            Text(success),
        ]
        if failing:
            failures = int(job.get("consecutive_failures") or 0)
            cells.append(Text(str(failures or ""), style="bold red"))
            cells.append(outside(_last_error(job, now) if failures else ""))
        rows.append(cells)
    if failing:
        grid.columns[5].overflow = "fold"
    return fill(grid, rows, console.width, flexible={5} if failing else ())


def _last_error(job: Mapping[str, Any], now: datetime) -> str:
    error = str(job.get("last_error") or "")
    error_at = times.parse(job.get("last_error_at"))
    return f"{times.relative(error_at, now)}: {error}" if error_at is not None else error
