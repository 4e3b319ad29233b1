"""Operator commands on the command line: approve, hold, say, pause, resume, audit, pending.

Each command calls :mod:`p2pilot.operator` (the layer the console and Telegram
call too) as ``Operator(--operator or the login user, "cli")``, prints the
outcome's one line (or ``--json``: one document) and exits 1 when it was refused.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from p2pilot.cli.app import JsonFlag, fail, open_store, print_json
from p2pilot.cli.options import Limit, whole
from p2pilot.terminal import printable

if TYPE_CHECKING:
    from p2pilot.config import Config
    from p2pilot.operator import Operator, OperatorCommands, Outcome
    from p2pilot.store.engine import Store

OperatorName = Annotated[
    str | None,
    typer.Option("--operator", help="Who acts, as the audit shows it (default: the login user)."),
]
AccountOption = Annotated[str | None, typer.Option(help="Account, if ids could clash.")]
OrderId = Annotated[str, typer.Argument(help="The exchange's order id.")]
POLL_SECONDS = 0.25


def register(app: typer.Typer, orders_app: typer.Typer) -> None:
    """Attach ``orders approve|hold|say|pending``, ``accounts pause|resume`` and ``audit``."""
    orders_app.command("pending")(pending)
    orders_app.command("approve")(approve)
    orders_app.command("hold")(hold)
    orders_app.command("say")(say)
    accounts_app = typer.Typer(help="Pause and resume an account's releases.", no_args_is_help=True)
    app.add_typer(accounts_app, name="accounts")
    accounts_app.command("pause")(pause)
    accounts_app.command("resume")(resume)
    app.command("audit")(audit)


def operator_of(name: str | None) -> Operator:
    """The acting operator: ``--operator``, else the login user; source ``cli``."""
    from p2pilot.operator import Operator

    try:
        return Operator(name if name is not None else getpass.getuser(), "cli")
    except (ValueError, KeyError, OSError) as exc:
        fail(f"--operator: {exc}", code=2)


def commands_for(config: Config, store: Store) -> OperatorCommands:
    from p2pilot.operator import OperatorCommands

    return OperatorCommands(store, config)


def act_as(
    operator: str | None, command: Callable[[OperatorCommands, Operator], Outcome]
) -> Outcome:
    """Give one command as ``--operator`` (else the login user); its outcome."""
    who = operator_of(operator)
    with open_store() as (config, store):
        return command(commands_for(config, store), who)


def report(outcome: Outcome, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """Print the outcome (one line, or one JSON document); exit 1 if it was refused."""
    if as_json:
        print_json(outcome.to_json() | (extra or {}))
    else:
        subject = outcome.order_id or outcome.account
        line = f"{subject}: {outcome.message}" if subject else outcome.message
        typer.echo(printable(line))
    if not outcome.ok:
        raise typer.Exit(1)


def pending(as_json: JsonFlag = False) -> None:
    """Releases waiting for an operator, oldest first: the console's approvals queue."""
    with open_store() as (config, store):
        queue = commands_for(config, store).approval_queue()
    if as_json:
        print_json(queue)
        return
    from p2pilot.render.approvals import approval_list
    from p2pilot.render.console import make_console

    approval_list(make_console(), queue, datetime.now(UTC))


def approve(
    order_id: OrderId,
    wait: Annotated[
        int,
        typer.Option(
            parser=whole(0, 3600), help="Seconds to wait for the daemon to act (0: do not)."
        ),
    ] = 20,
    lift_hold: Annotated[
        bool, typer.Option("--lift-hold", help="Lift an operator's hold on it first.")
    ] = False,
    account: AccountOption = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """Approve a release waiting for an operator; wait for the daemon to release it."""
    who = operator_of(operator)
    with open_store() as (config, store):
        commands = commands_for(config, store)
        outcome = commands.approve(who, order_id, account=account, lift_hold=lift_hold)
        if not outcome.ok or outcome.details.get("state") != "approved" or wait <= 0:
            report(outcome, as_json)
            return
        deadline = time.monotonic() + wait
        status = commands.release_status(order_id, account=account)
        while not status.settled and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            status = commands.release_status(order_id, account=account)
    release = {"release": {"state": status.state, "message": status.message}}
    if status.state == "released":
        line = "released"
    elif status.state in ("refused", "failed"):
        line = f"refused: {status.message}"
    else:
        line = "approved; the daemon will release it"
    if as_json:
        print_json(outcome.to_json() | release)
    else:
        typer.echo(printable(f"{order_id}: {line}"))
    if status.state in ("refused", "failed"):
        raise typer.Exit(1)


def hold(
    order_id: OrderId,
    reason: Annotated[str, typer.Option(help="Why, for the audit and the other operators.")],
    account: AccountOption = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """Stop this order's release until an approval with --lift-hold."""
    outcome = act_as(operator, lambda c, who: c.hold(who, order_id, reason, account=account))
    report(outcome, as_json)


def say(
    order_id: OrderId,
    text: Annotated[str, typer.Argument(help="The message for the order's chat.")],
    account: AccountOption = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """Send a message to the order's chat, now, from its account."""
    outcome = act_as(operator, lambda c, who: c.say(who, order_id, text, account=account))
    report(outcome, as_json)


def pause(
    name: Annotated[str, typer.Argument(help="The account's name in the config.")],
    reason: Annotated[str | None, typer.Option(help="Why, for the other operators.")] = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """No release from this account until resumed (at once, no reload needed)."""
    report(act_as(operator, lambda c, who: c.pause(who, name, reason=reason)), as_json)


def resume(
    name: Annotated[str, typer.Argument(help="The account's name in the config.")],
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """Let this account release again."""
    report(act_as(operator, lambda c, who: c.resume(who, name)), as_json)


def audit(limit: Limit = None, as_json: JsonFlag = False) -> None:
    """Every operator command given, allowed or refused, newest first."""
    from p2pilot.store import audit as stored_audit

    with open_store() as (_config, store), store.transaction(read_only=True) as session:
        documents = [r.to_json() for r in stored_audit.recent(session, limit=limit)]
    if as_json:
        print_json(documents)
        return
    from p2pilot.render.audit import audit_list
    from p2pilot.render.console import make_console

    audit_list(make_console(), documents, datetime.now(UTC))
