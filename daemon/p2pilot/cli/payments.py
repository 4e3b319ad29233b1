"""``p2pilot payments attach``: the operator resolves held evidence by hand."""

from __future__ import annotations

from typing import Annotated

import typer

from p2pilot.cli.app import JsonFlag, fail, print_json
from p2pilot.cli.operator import AccountOption, OperatorName, act_as


def register(payments_app: typer.Typer) -> None:
    """Attach ``payments attach`` to the ``payments`` group."""

    payments_app.command("attach")(attach)


def attach(
    payment_id: Annotated[int, typer.Argument(help="The evidence's id (payments list).")],
    order_id: Annotated[str, typer.Argument(help="The exchange's order id it pays.")],
    account: AccountOption = None,
    operator: OperatorName = None,
    as_json: JsonFlag = False,
) -> None:
    """Bind unbound evidence (a held possible duplicate, say) to the order it pays."""
    outcome = act_as(operator, lambda c, who: c.attach(who, payment_id, order_id, account=account))
    if not outcome.ok:
        fail(outcome.message.removeprefix("refused: "))
    reason = outcome.details["reason"]
    if as_json:
        print_json({"payment_id": payment_id, "order_id": order_id, "reason": reason})
        return
    typer.echo(f"evidence {payment_id} -> order {order_id} ({reason})")
