"""``p2pilot simulate``: serve the simulated Bybit P2P exchange."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from p2pilot.cli.app import fail
from p2pilot.cli.options import positive_float, whole
from p2pilot.logging import configure_logging


def register(app: typer.Typer) -> None:
    """Attach ``simulate`` to the CLI."""
    app.command()(simulate)


def simulate(
    port: Annotated[int, typer.Option(parser=whole(0, 65535), help="Port on 127.0.0.1.")] = 8765,
    scenario: Annotated[
        str, typer.Option(help="quiet, demo, busy, or none (orders only through /_sim/).")
    ] = "demo",
    seed: Annotated[
        int, typer.Option(parser=whole(0, 2**32 - 1), help="Seed of the scenario's randomness.")
    ] = 1,
    speed: Annotated[
        float, typer.Option(parser=positive_float, help="Time acceleration of the scenario.")
    ] = 1.0,
    api_key: Annotated[str, typer.Option(help="API key the simulator accepts.")] = "demo",
    api_secret: Annotated[str, typer.Option(help="API secret the simulator accepts.")] = "demo",
    accounts: Annotated[
        int,
        typer.Option(
            parser=whole(0, 10_000),
            help="Serve N accounts: keys and secrets KEY1..KEYN / SECRET1..SECRETN.",
        ),
    ] = 0,
    notify_url: Annotated[
        str | None,
        typer.Option(help="Post the bank's SMS for each payment here (/v1/notifications)."),
    ] = None,
    notify_token: Annotated[
        str | None,
        typer.Option(help="Bearer token for --notify-url.", envvar="P2PILOT_SIM_NOTIFY_TOKEN"),
    ] = None,
) -> None:
    """Serve the simulated Bybit P2P exchange on 127.0.0.1."""
    from p2pilot.simulator.bank import BankNotifier
    from p2pilot.simulator.server import run as serve

    if scenario not in ("quiet", "demo", "busy", "none"):
        fail(f"unknown scenario {scenario!r}: use quiet, demo, busy or none", code=2)
    if (notify_url is None) != (notify_token is None):
        fail("--notify-url and --notify-token go together", code=2)
    secrets = [api_secret, *([notify_token] if notify_token else [])]
    configure_logging(level="info", fmt="auto", secrets=secrets, stream=sys.stderr)
    bank = BankNotifier(notify_url, notify_token) if notify_url and notify_token else None
    raise typer.Exit(serve(port, scenario, seed, speed, api_key, api_secret, bank, accounts))
