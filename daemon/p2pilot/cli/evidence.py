"""``orders confirm-payment`` and ``payments list``: the operator's side of evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

import typer

from p2pilot.cli.app import JsonFlag, fail, open_store, print_json
from p2pilot.cli.operator import AccountOption, OperatorName, OrderId, act_as
from p2pilot.cli.options import Limit, amount_of
from p2pilot.terminal import printable


def register(orders_app: typer.Typer, app: typer.Typer) -> None:
    """Attach the evidence commands to the CLI (kept here, next to what they drive)."""
    payments_app = typer.Typer(help="Payment evidence.", no_args_is_help=True)
    app.add_typer(payments_app, name="payments")

    orders_app.command("confirm-payment")(confirm_payment)
    payments_app.command("list")(payments_list)
    from p2pilot.cli.payments import register as register_payments

    register_payments(payments_app)


def confirm_payment(
    order_id: OrderId,
    amount: Annotated[
        Decimal | None,
        typer.Option(parser=amount_of, help="Fiat received (default: the order's amount)."),
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Bank reference; unique (default: manual-ORDER).")
    ] = None,
    payer: Annotated[str | None, typer.Option(help="Payer name as the bank shows it.")] = None,
    account: AccountOption = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """The operator confirms the fiat for this order really arrived."""
    outcome = act_as(
        operator,
        lambda c, who: c.confirm_payment(
            who, order_id, amount=amount, reference=reference, payer=payer, account=account
        ),
    )
    if not outcome.ok:
        fail(outcome.message.removeprefix("refused: "))
    details = outcome.details
    document = {
        "order_id": order_id,
        "stored": details["stored"],
        "matched": details["matched"],
        "adopted": details["adopted"],
        "payment_id": details["payment_id"],
        "reason": details["reason"],
        "hold": details.get("hold"),
    }
    if as_json:
        print_json(document)
    elif details["matched"]:
        typer.echo(printable(f"{order_id}: payment recorded ({details['reason']})"))
    else:
        typer.echo(printable(f"{order_id}: {outcome.message}"), err=True)
    if not details["matched"]:
        # Stored but held: the order is not confirmed, which a script must not miss.
        raise typer.Exit(1)


def payments_list(
    unmatched: Annotated[bool, typer.Option(help="Only evidence bound to no order.")] = False,
    limit: Limit = None,
    as_json: JsonFlag = False,
) -> None:
    """Stored payment evidence, newest first, with the order each one paid."""
    from p2pilot.store import notifications, payments

    with open_store() as (_config, store), store.transaction(read_only=True) as session:
        rows = payments.all_payments(session, limit=limit)
        # Bank texts no template read: evidence only once the operator says so.
        unread = notifications.unparsed(session, limit=limit)
    documents = [p.to_json(order_id) for p, order_id in rows]
    if unmatched:
        documents = [d for d in documents if d["order_id"] is None]
    texts = [n.to_json() | {"kind": "unparsed"} for n in unread]
    if as_json:
        print_json(documents + texts)
        return
    from rich.text import Text

    from p2pilot.render.console import make_console, outside
    from p2pilot.render.payments import payments_list as render_payments

    console = make_console()
    if documents or not texts:
        render_payments(console, documents, datetime.now(UTC), unmatched=unmatched)
    for t in texts:
        console.print(
            Text.assemble(
                ("UNPARSED", "bold yellow"),
                f" #{t['id']} {t['received_at']} from ",
                outside(t["source"]),
                " (",
                outside(t["sender"] or "?"),
                "): ",
                outside(repr(t["text"])),
                f"  record it: p2pilot payments record {t['id']} --amount A --payer NAME",
            )
        )
