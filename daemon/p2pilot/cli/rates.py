"""``p2pilot rates``: the latest stored market rates, and a compact history."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from p2pilot.cli.app import JsonFlag, fail, open_store, print_json

HISTORY_POINTS = 12  # a compact history: at most this many points per market


def register(app: typer.Typer) -> None:
    """Attach ``rates`` to the CLI."""

    app.command()(rates)


def rates(
    history: Annotated[
        str | None,
        typer.Option(help='Also show how each market moved over this long, e.g. "1h".'),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Latest stored rates (best and reference price) for every watched market."""
    from p2pilot.config.values import parse_duration
    from p2pilot.store import rates as stored_rates

    try:
        window = parse_duration(history) if history is not None else None
    except ValueError as exc:
        fail(f"--history: {exc}", code=2)
    with open_store() as (_config, store):
        documents: list[dict[str, Any]] = []
        with store.transaction(read_only=True) as session:
            for market in stored_rates.markets(session):
                point = stored_rates.latest(session, *market)
                if point is None:
                    continue
                document = point.to_json()
                if window is not None:
                    since = datetime.now(UTC) - window
                    points = stored_rates.history(session, *market, since=since)
                    document["history"] = [p.to_json() for p in thin(points)]
                documents.append(document)
    if as_json:
        print_json(documents)
        return
    from p2pilot.render.console import make_console
    from p2pilot.render.desk import rates as render_rates

    render_rates(make_console(), documents, datetime.now(UTC))


def thin(points: list[Any], keep: int = HISTORY_POINTS) -> list[Any]:
    """At most ``keep`` points, evenly spread, always with the first and the last."""
    if len(points) <= keep:
        return points
    step = (len(points) - 1) / (keep - 1)
    return [points[round(i * step)] for i in range(keep)]
