"""``p2pilot payments attach``: the operator resolves held evidence by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from p2pilot.cli.app import JsonFlag, fail, open_store, print_json


def register(payments_app: typer.Typer) -> None:
    """Attach ``payments attach`` to the ``payments`` group."""

    payments_app.command("attach")(attach)


def attach(
    payment_id: Annotated[int, typer.Argument(help="The evidence's id (payments list).")],
    order_id: Annotated[str, typer.Argument(help="The exchange's order id it pays.")],
    account: Annotated[str | None, typer.Option(help="Account, if ids could clash.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Bind unbound evidence (a held possible duplicate, say) to the order it pays."""
    from p2pilot.evidence.intake import EvidenceError, attach_evidence

    with open_store() as (config, store):
        try:
            result = attach_evidence(
                store,
                payment_id=payment_id,
                order_id=order_id,
                account=account,
                now=datetime.now(UTC),
                policy=config.evidence.match_policy,
            )
        except EvidenceError as exc:
            fail(str(exc))
    if as_json:
        print_json({"payment_id": payment_id, "order_id": order_id, "reason": result.reason})
        return
    typer.echo(f"evidence {payment_id} -> order {order_id} ({result.reason})")
