"""``p2pilot orders list | show``: the orders the daemon stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from p2pilot.cli.app import JsonFlag, fail, open_store, print_json
from p2pilot.cli.operator import AccountOption, OrderId
from p2pilot.cli.options import Limit


def register(app: typer.Typer) -> typer.Typer:
    """Attach the ``orders`` group to the CLI; the group, for more commands."""
    orders_app = typer.Typer(help="Stored orders.", no_args_is_help=True)
    app.add_typer(orders_app, name="orders")
    orders_app.command("list")(orders_list)
    orders_app.command("show")(orders_show)
    return orders_app


def parse_status(value: str | None) -> int | None:
    from p2pilot.numbers import NumberError, count
    from p2pilot.records import OrderStatus

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

    with open_store() as (_config, store), store.transaction() as session:
        views = stored_orders.list_orders(
            session, status=parse_status(status), account=account, limit=limit
        )
    rows = [view.to_json() for view in views]
    if as_json:
        print_json(rows)
        return
    from p2pilot.render.console import make_console
    from p2pilot.render.orders import orders_list as render_orders

    render_orders(make_console(), rows, datetime.now(UTC))


def orders_show(
    order_id: OrderId,
    account: AccountOption = None,
    as_json: JsonFlag = False,
) -> None:
    """One order: snapshot, status history, chat and actions taken."""
    from p2pilot.evidence import waiting
    from p2pilot.operator.releases import operators_view
    from p2pilot.store import orders as stored_orders

    with open_store() as (_config, store), store.transaction() as session:
        view = stored_orders.get_order(
            session, order_id, account=account, held_for=waiting.held_for
        )
        operators = operators_view(session, order_id, account)
    if view is None:
        fail(f"no stored order {order_id}")
    document = view.to_json() | {"operators": operators}
    if as_json:
        print_json(document)
        return
    from p2pilot.render.console import make_console
    from p2pilot.render.orders import order_detail

    order_detail(make_console(), document, datetime.now(UTC))
