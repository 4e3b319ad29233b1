"""``p2pilot logs [FILE]``: read p2pilot's JSON log lines, filter them, print them readably.

Reads a file or stdin (``journalctl -u p2pilot -o cat | p2pilot logs --order ID``).
Lines that are not p2pilot JSON objects are skipped and counted, never fatal.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer

from p2pilot.cli.app import fail, print_json
from p2pilot.terminal import printable

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
# Shown first on a text line, in this order; the rest follow as key=value.
HEAD_KEYS = ("timestamp", "level", "event", "account", "order_id")
QUIET_KEYS = {"logger"}


@dataclass(frozen=True, slots=True)
class LogFilter:
    """What a line must match; None means anything."""

    order_id: str | None = None
    event: str | None = None  # a glob: "release.*"
    account: str | None = None
    min_level: int = 0
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, line: dict[str, Any]) -> bool:
        if self.order_id is not None and str(line.get("order_id")) != self.order_id:
            return False
        if self.event is not None and not fnmatch.fnmatchcase(str(line.get("event")), self.event):
            return False
        if self.account is not None and line.get("account") != self.account:
            return False
        if LEVELS.get(str(line.get("level", "")).lower(), 0) < self.min_level:
            return False
        if self.since is not None or self.until is not None:
            at = _timestamp(line)
            if at is None:
                return False
            if self.since is not None and at < self.since:
                return False
            if self.until is not None and at > self.until:
                return False
        return True


def read_lines(stream: Iterable[str]) -> Iterator[dict[str, Any] | None]:
    """Each line as a log object, or None when it is not one."""
    for raw in stream:
        text = raw.strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            yield None
            continue
        yield value if isinstance(value, dict) and "event" in value else None


def render(line: dict[str, Any]) -> str:
    """One readable line: time, level, event, account, order, then the rest as key=value.

    Every value is escaped (a buyer's text with a newline would otherwise print a
    forged log line of its own); a traceback keeps its lines, each indented.
    """
    head = [
        str(line.get("timestamp", "")),
        str(line.get("level", "")).upper().ljust(7),
        str(line.get("event", "")),
    ]
    if line.get("account") is not None:
        head.append(f"account={line['account']}")
    if line.get("order_id") is not None:
        head.append(f"order_id={line['order_id']}")
    rest = [
        f"{key}={_short(value)}"
        for key, value in line.items()
        if key not in HEAD_KEYS and key not in QUIET_KEYS and key != "exception"
    ]
    text = "  ".join(printable(part) for part in head + rest)
    if line.get("exception"):
        lines = str(line["exception"]).rstrip().splitlines()
        text += "".join(f"\n    {printable(extra)}" for extra in lines)
    return text


def register(app: typer.Typer) -> None:
    """Attach ``logs`` to the CLI."""

    app.command()(logs)


def logs(
    file: Annotated[
        Path | None, typer.Argument(help="A file of JSON log lines (default: stdin).")
    ] = None,
    order: Annotated[str | None, typer.Option(help="Only this order id.")] = None,
    event: Annotated[str | None, typer.Option(help='Event name or glob: "release.*".')] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    level: Annotated[str | None, typer.Option(help="At least this level.")] = None,
    since: Annotated[str | None, typer.Option(help='ISO time or a duration ago: "1h".')] = None,
    until: Annotated[str | None, typer.Option(help="ISO time or a duration ago.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Filter and print p2pilot's JSON log lines (from a file or journalctl on stdin)."""
    if level is not None and level.lower() not in LEVELS:
        fail(f"--level must be one of {', '.join(LEVELS)}, got {level!r}", code=2)
    now = datetime.now(UTC)
    criteria = LogFilter(
        order_id=order,
        event=event,
        account=account,
        min_level=LEVELS[level.lower()] if level else 0,
        since=_when(since, now, "--since"),
        until=_when(until, now, "--until"),
    )
    if file is not None and not file.is_file():
        fail(f"{file}: no such file", code=2)
    stream: TextIO = (
        file.open(encoding="utf-8", errors="replace") if file is not None else sys.stdin
    )
    matched: list[dict[str, Any]] = []
    skipped = 0
    try:
        for line in read_lines(stream):
            if line is None:
                skipped += 1
            elif criteria.matches(line):
                if as_json:
                    matched.append(line)
                else:
                    typer.echo(render(line))
    finally:
        if file is not None:
            stream.close()
    if as_json:
        print_json(matched)
    if skipped:
        typer.echo(f"p2pilot: skipped {skipped} line(s) that were not JSON log lines", err=True)


def _when(value: str | None, now: datetime, option: str) -> datetime | None:
    if value is None:
        return None
    from p2pilot.config.values import parse_duration

    try:
        return now - parse_duration(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f'{option} {value!r}: expected an ISO time or a duration such as "1h"', code=2)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _timestamp(line: dict[str, Any]) -> datetime | None:
    try:
        at = datetime.fromisoformat(str(line.get("timestamp")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 200 else text[:197] + "..."
