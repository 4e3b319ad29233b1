"""``p2pilot blacklist add|list|remove``: buyers never released to automatically."""

from __future__ import annotations

from typing import Annotated

import typer

from p2pilot.cli.app import JsonFlag, fail, open_store, print_json
from p2pilot.cli.operator import OperatorName, commands_for, operator_of
from p2pilot.terminal import printable


def register(app: typer.Typer) -> None:
    """Attach the ``blacklist`` group to the CLI."""
    blacklist_app = typer.Typer(
        help="Buyers never released to automatically (effective at once).", no_args_is_help=True
    )
    app.add_typer(blacklist_app, name="blacklist")

    blacklist_app.command("add")(add)
    blacklist_app.command("list")(list_)
    blacklist_app.command("remove")(remove)


def add(
    uid: Annotated[str | None, typer.Option(help="The buyer's Bybit user id.")] = None,
    nickname: Annotated[str | None, typer.Option(help="The buyer's nickname.")] = None,
    name: Annotated[
        str | None, typer.Option(help='A KYC or payer name, e.g. "OLEG SMIRNOV".')
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why, for whoever reads it.")] = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """List a buyer by exactly one of --uid, --nickname or --name."""
    given = [(k, v) for k, v in (("uid", uid), ("nickname", nickname), ("name", name)) if v]
    if len(given) != 1:
        fail("name exactly one of --uid, --nickname or --name", code=2)
    kind, value = given[0]
    who = operator_of(operator)
    with open_store() as (config, store):
        outcome = commands_for(config, store).blacklist_add(who, kind, value, reason=reason)
    if not outcome.ok:
        fail(outcome.message.removeprefix("refused: "))
    if as_json:
        print_json(outcome.details["entry"])
        return
    typer.echo(printable(outcome.message))


def list_(
    as_json: JsonFlag = False,
) -> None:
    """Every entry, oldest first."""
    from p2pilot.rules.blacklist import list_entries

    with open_store() as (_config, store):
        entries = list_entries(store)
    if as_json:
        print_json([e.to_json() for e in entries])
        return
    if not entries:
        typer.echo("the blacklist is empty")
    for entry in entries:
        typer.echo(printable(f"{entry.created_at.isoformat()}  {entry.describe()}"))


def remove(
    entry_id: Annotated[int, typer.Argument(help="The entry's id (list).")],
    operator: OperatorName = None,
) -> None:
    """Take an entry off the blacklist."""
    who = operator_of(operator)
    with open_store() as (config, store):
        outcome = commands_for(config, store).blacklist_remove(who, entry_id)
    if not outcome.ok:
        fail(outcome.message.removeprefix("refused: "))
    typer.echo(f"removed blacklist entry {entry_id}")
