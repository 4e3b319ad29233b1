"""``p2pilot run`` and ``p2pilot check-config``: the daemon and its config."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from p2pilot.cli.app import fail, fail_config, load, log, print_json, state
from p2pilot.config import ConfigError, config_path_from, load_config


def register(app: typer.Typer) -> None:
    """Attach ``run`` and ``check-config`` to the CLI."""
    app.command()(run)
    app.command("check-config")(check_config)


def run(
    once: Annotated[
        bool, typer.Option("--once", help="Run every job one tick, handle events, exit.")
    ] = False,
) -> None:
    """Run the daemon."""
    from p2pilot.service import Daemon, install_stop_handlers
    from p2pilot.store.lock import AlreadyRunning
    from p2pilot.store.migrate import SchemaOutdated

    config = load(logs_to_stderr=False)
    for warning in config.warnings():
        log.warning("config.deprecated", detail=warning)
    stop = threading.Event()
    daemon = Daemon(config)
    install_stop_handlers(stop, daemon.reload_requested)
    try:
        daemon.start()
    except SchemaOutdated as err:
        log.error("daemon.schema_outdated", error=str(err))
        fail(str(err))
    except AlreadyRunning as err:
        log.error("daemon.already_running", error=str(err))
        fail(str(err))
    if once:
        try:
            code = daemon.run_once()
        finally:
            daemon.close()
        raise typer.Exit(code)
    raise typer.Exit(daemon.run_forever(stop))


def check_config() -> None:
    """Validate the config and print it resolved, secrets redacted."""
    try:
        config = load_config(config_path_from(state.config_path))
    except ConfigError as err:
        fail_config(err)
    from p2pilot.evidence.server import exposure_warning
    from p2pilot.runtime.hostfit import host_fit

    print_json(config.redacted())
    warnings = [host_fit(config).advice()]
    warnings += config.warnings()
    if config.evidence.listen is not None:
        warnings.append(exposure_warning(config.evidence.listen))
    for warning in warnings:
        if warning is not None:
            typer.echo(f"p2pilot: warning: {warning}", err=True)
    typer.echo(f"p2pilot: {config.source}: ok", err=True)
