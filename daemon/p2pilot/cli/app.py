"""The Typer application and what every command shares: config loading, failing, JSON.

Exit codes: 0 ok, 1 runtime failure, 2 bad usage, 78 bad config. ``--json``
output is one JSON document on stdout; logs of read-only commands go to stderr
so stdout stays clean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from p2pilot.config import Config, ConfigError, config_path_from, load_config
from p2pilot.logging import configure_logging, get_logger
from p2pilot.terminal import printable

if TYPE_CHECKING:
    from p2pilot.store.engine import Store

EX_CONFIG = 78

app = typer.Typer(
    name="p2pilot",
    help="Autopilot for Bybit P2P desks.",
    no_args_is_help=True,
    add_completion=True,
    # Rich tracebacks print local variables, which may hold secrets.
    pretty_exceptions_enable=False,
)

# The logger keeps the name it had when the CLI was one module: log filters use it.
log = get_logger("p2pilot.cli")


class State:
    """What the global options set before a command runs."""

    config_path: str | None = None


state = State()

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@app.callback()
def main_options(
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            "-c",
            envvar="P2PILOT_CONFIG",
            help="Config file (default: $P2PILOT_CONFIG, /etc/p2pilot/p2pilot.toml, "
            "./p2pilot.toml).",
        ),
    ] = None,
) -> None:
    state.config_path = config


def fail_config(err: ConfigError) -> NoReturn:
    """Print a config error and exit 78."""
    typer.echo(f"p2pilot: {err}", err=True)
    raise typer.Exit(EX_CONFIG)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line on stderr and exit with ``code``."""
    typer.echo(f"p2pilot: {printable(message)}", err=True)  # may quote an argument
    raise typer.Exit(code)


def load(*, logs_to_stderr: bool) -> Config:
    """Load the config and set up logging from it; exit 78 on a bad config.

    ``logs_to_stderr`` marks a command that prints an answer (every command but
    ``run``): its terminal shows that answer and warnings only, whatever level
    the daemon logs at.
    """
    try:
        config = load_config(config_path_from(state.config_path))
    except ConfigError as err:
        fail_config(err)
    level = config.logging.level
    if logs_to_stderr and level in ("debug", "info"):
        level = "warning"
    configure_logging(
        level=level,
        fmt=config.logging.format,
        secrets=config.secret_values(),
        stream=sys.stderr if logs_to_stderr else sys.stdout,
    )
    return config


@contextmanager
def open_store() -> Iterator[tuple[Config, Store]]:
    """The config (loaded as for a command that prints an answer) and its database.

    The store is disposed of when the block ends, whatever ends it (an exit included).
    """
    from p2pilot.store.engine import Store

    config = load(logs_to_stderr=True)
    store = Store(config.database.url)
    try:
        yield config, store
    finally:
        store.dispose()


def print_json(document: Any) -> None:
    """Write ``document`` to stdout as one indented JSON document."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
