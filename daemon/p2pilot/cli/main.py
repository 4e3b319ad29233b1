"""Command line: ``p2pilot [--config PATH] COMMAND`` (contract in the design).

Builds the command tree from the modules beside this one and runs it; see
``app.py`` for what every command shares.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence

import typer

from p2pilot.cli import (
    account,
    ads,
    blacklist,
    console,
    daemon,
    db,
    evidence,
    init,
    logs,
    operator,
    orders,
    rates,
    simulate,
    status,
    templates,
)
from p2pilot.cli.app import app
from p2pilot.terminal import printable


def _register_commands() -> None:
    # Typer lists commands in the order they are attached: this order is the help's.
    daemon.register(app)
    db.register(app)
    orders_app = orders.register(app)
    account.register(app)
    simulate.register(app)
    evidence.register(orders_app, app)
    operator.register(app, orders_app)
    templates.register(app)
    rates.register(app)
    ads.register(app)
    status.register(app)
    logs.register(app)
    init.register(app)
    blacklist.register(app)
    console.register(app)


_register_commands()


# Typer raises click's exceptions, from click or from its own vendored copy: take
# them from wherever typer's BadParameter comes from.
_errors = sys.modules[typer.BadParameter.__module__]
_UsageError: type[Exception] = _errors.UsageError
_ClickException: type[Exception] = _errors.ClickException
_NoArgsIsHelp: type[Exception] | None = getattr(_errors, "NoArgsIsHelpError", None)


@functools.cache
def command() -> typer.core.TyperGroup:
    """The click command behind ``app``: built from every command's signature, a
    twentieth of a second, so once per process."""
    built = typer.main.get_command(app)
    assert isinstance(built, typer.core.TyperGroup)
    return built


def run_cli(args: Sequence[str] | None = None) -> int:
    """Run the CLI on ``args`` (default: the process's); the exit code.

    A bad command line is one line on stderr and exit 2 (click's usage box
    spans five, and echoes whatever the argument held).
    """
    try:
        result = command().main(args=args, prog_name="p2pilot", standalone_mode=False)
    except typer.Abort:
        return 1
    except _ClickException as exc:
        if _NoArgsIsHelp is not None and isinstance(exc, _NoArgsIsHelp):
            exc.show()  # type: ignore[attr-defined]  # no arguments at all: the help answers
            return 2
        message = " ".join(exc.format_message().split())  # type: ignore[attr-defined]
        sys.stderr.write(f"p2pilot: {printable(message)}\n")
        code = 2 if isinstance(exc, _UsageError) else exc.exit_code  # type: ignore[attr-defined]
        return int(code)
    return result if isinstance(result, int) else 0


def main() -> None:
    """Console-script entry point."""
    try:
        sys.exit(run_cli())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
