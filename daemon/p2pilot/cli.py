"""Command line: ``p2pilot [--config PATH] COMMAND`` (contract in the design).

Exit codes: 0 ok, 1 runtime failure, 2 bad usage, 78 bad config. ``--json``
output is one JSON document on stdout; logs of read-only commands go to stderr
so stdout stays clean.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer

from p2pilot.commands.options import Limit, positive_float, whole
from p2pilot.config import Config, ConfigError, config_path_from, load_config
from p2pilot.logging import configure_logging, get_logger
from p2pilot.terminal import printable

EX_CONFIG = 78

app = typer.Typer(
    name="p2pilot",
    help="Autopilot for Bybit P2P desks.",
    no_args_is_help=True,
    add_completion=True,
    # Rich tracebacks print local variables, which may hold secrets.
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
orders_app = typer.Typer(help="Stored orders.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(orders_app, name="orders")

log = get_logger("p2pilot.cli")


class State:
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
    typer.echo(f"p2pilot: {err}", err=True)
    raise typer.Exit(EX_CONFIG)


def fail(message: str, code: int = 1) -> NoReturn:
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


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


# -- run ---------------------------------------------------------------------------


@app.command()
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


# -- check-config ------------------------------------------------------------------


@app.command("check-config")
def check_config() -> None:
    """Validate the config and print it resolved, secrets redacted."""
    try:
        config = load_config(config_path_from(state.config_path))
    except ConfigError as err:
        fail_config(err)
    from p2pilot.evidence.server import exposure_warning

    print_json(config.redacted())
    if config.evidence.listen is not None:
        warning = exposure_warning(config.evidence.listen)
        if warning is not None:
            typer.echo(f"p2pilot: warning: {warning}", err=True)
    typer.echo(f"p2pilot: {config.source}: ok", err=True)


# -- db ----------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from p2pilot.store.engine import Store, redact_url
    from p2pilot.store.migrate import current_revision, upgrade

    config = load(logs_to_stderr=True)
    store = Store(config.database.url)
    try:
        upgrade(store)
        with store.engine.connect() as connection:
            revision = current_revision(connection)
        typer.echo(f"{redact_url(config.database.url)}: at revision {revision}")
    finally:
        store.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and whether it is the newest."""
    from p2pilot.store.engine import Store, redact_url
    from p2pilot.store.migrate import current_revision, head_revision

    config = load(logs_to_stderr=True)
    store = Store(config.database.url)
    try:
        with store.engine.connect() as connection:
            revision = current_revision(connection)
    finally:
        store.dispose()
    head = head_revision()
    state_text = "up to date" if revision == head else f"behind (newest is {head})"
    typer.echo(f"{redact_url(config.database.url)}: {revision or 'empty'} — {state_text}")


# -- orders ------------------------------------------------------------------------


def parse_status(value: str | None) -> int | None:
    from p2pilot.exchange.records import OrderStatus
    from p2pilot.numbers import NumberError, count

    if value is None:
        return None
    if value.strip().lstrip("+-").isdigit():
        try:
            return count(value, minimum=0, maximum=1000)
        except NumberError as exc:
            fail(f"--status: {exc}", code=2)
    try:
        return int(OrderStatus[value.upper()])
    except KeyError:
        names = ", ".join(s.label for s in OrderStatus)
        fail(f"unknown status {value!r}: use a code or one of {names}", code=2)


@orders_app.command("list")
def orders_list(
    status: Annotated[
        str | None, typer.Option(help="Status code or name, e.g. 20 or paid.")
    ] = None,
    account: Annotated[str | None, typer.Option(help="Only this account.")] = None,
    limit: Limit = None,
    as_json: JsonFlag = False,
) -> None:
    """List stored orders, newest first."""
    from p2pilot.store import orders as stored_orders
    from p2pilot.store.engine import Store

    config = load(logs_to_stderr=True)
    store = Store(config.database.url)
    try:
        with store.transaction() as session:
            views = stored_orders.list_orders(
                session, status=parse_status(status), account=account, limit=limit
            )
    finally:
        store.dispose()
    rows = [view.to_json() for view in views]
    if as_json:
        print_json(rows)
        return
    from p2pilot.render.console import make_console
    from p2pilot.render.orders import orders_list as render_orders

    render_orders(make_console(), rows, datetime.now(UTC))


@orders_app.command("show")
def orders_show(
    order_id: Annotated[str, typer.Argument(help="The exchange's order id.")],
    account: Annotated[str | None, typer.Option(help="Account, if ids could clash.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """One order: snapshot, status history, chat and actions taken."""
    from p2pilot.store import orders as stored_orders
    from p2pilot.store.engine import Store

    config = load(logs_to_stderr=True)
    store = Store(config.database.url)
    try:
        with store.transaction() as session:
            view = stored_orders.get_order(session, order_id, account=account)
    finally:
        store.dispose()
    if view is None:
        fail(f"no stored order {order_id}")
    document = view.to_json()
    if as_json:
        print_json(document)
        return
    from p2pilot.render.console import make_console
    from p2pilot.render.orders import order_detail

    order_detail(make_console(), document, datetime.now(UTC))


# -- account -----------------------------------------------------------------------


@app.command()
def account(
    name: Annotated[str | None, typer.Option("--account", help="Only this account.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Account info and payment methods, read from the exchange."""
    from p2pilot.exchange.errors import ExchangeError
    from p2pilot.runtime.accounts import make_client

    config = load(logs_to_stderr=True)
    selected = [a for a in config.accounts if name is None or a.name == name]
    if not selected:
        fail(f"no account named {name!r} in {config.source}", code=2)
    documents: list[dict[str, Any]] = []
    failed = False
    for account_config in selected:
        client = make_client(account_config)
        try:
            info = client.account_info()
            methods = client.payment_methods()
        except ExchangeError as exc:
            failed = True
            documents.append({"account": account_config.name, "error": str(exc)})
            continue
        documents.append(
            {
                "account": account_config.name,
                "user_id": info.user_id,
                "nickname": info.nickname,
                "real_name": info.real_name,
                "kyc_level": info.kyc_level,
                "recent_rate": str(info.recent_rate) if info.recent_rate is not None else None,
                "recent_finish_count": info.recent_finish_count,
                "total_finish_count": info.total_finish_count,
                "auth_status": info.auth_status,
                "payment_methods": [
                    {"id": m.id, "type": m.payment_type, "name": m.name, "bank": m.bank_name}
                    for m in methods
                ],
            }
        )
    if as_json:
        print_json(documents)
    else:
        from p2pilot.render.console import make_console
        from p2pilot.render.desk import accounts as render_accounts

        render_accounts(make_console(), documents)
    if failed:
        raise typer.Exit(1)


# -- simulate ----------------------------------------------------------------------


@app.command()
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
    raise typer.Exit(serve(port, scenario, seed, speed, api_key, api_secret, bank))


def _register_feature_commands() -> None:
    from p2pilot.commands.ads import register as register_ads
    from p2pilot.commands.blacklist import register as register_blacklist
    from p2pilot.commands.init import register as register_init
    from p2pilot.commands.logs import register as register_logs
    from p2pilot.commands.rates import register as register_rates
    from p2pilot.commands.status import register as register_status
    from p2pilot.commands.templates import register as register_templates
    from p2pilot.evidence.commands import register as register_evidence

    register_evidence(orders_app, app, load, fail, print_json)
    register_templates(app, load, fail, print_json)
    register_rates(app, load, fail, print_json)
    register_ads(app, load, fail, print_json)
    register_status(app, load, fail, print_json)
    register_logs(app, fail, print_json)
    register_init(app, lambda: state.config_path, fail)
    register_blacklist(app, load, fail, print_json)


_register_feature_commands()


# Typer raises click's exceptions, from click or from its own vendored copy: take
# them from wherever typer's BadParameter comes from.
_errors = sys.modules[typer.BadParameter.__module__]
_UsageError: type[Exception] = _errors.UsageError
_ClickException: type[Exception] = _errors.ClickException
_NoArgsIsHelp: type[Exception] | None = getattr(_errors, "NoArgsIsHelpError", None)


def run_cli(args: Sequence[str] | None = None) -> int:
    """Run the CLI on ``args`` (default: the process's); the exit code.

    A bad command line is one line on stderr and exit 2 (click's usage box
    spans five, and echoes whatever the argument held).
    """
    command = typer.main.get_command(app)
    try:
        result = command.main(args=args, prog_name="p2pilot", standalone_mode=False)
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
