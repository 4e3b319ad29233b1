"""``p2pilot ads list | create | update | remove | relist``: your ads, through pybit.

Every command reads or writes the exchange directly (not the store), checks
what Bybit would refuse before calling, and exits 1 with one sentence when the
exchange or a check says no.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from p2pilot.cli.app import JsonFlag, fail, load, print_json
from p2pilot.cli.options import amount_of, whole

if TYPE_CHECKING:
    from p2pilot.exchange.port import Exchange
    from p2pilot.records import Ad

AccountOption = Annotated[
    str | None, typer.Option("--account", help="Account name (default: the first).")
]


def ad_json(ad: Ad) -> dict[str, Any]:
    return {
        "id": ad.id,
        "side": ad.side.label,
        "token": ad.token,
        "currency": ad.currency,
        "price": str(ad.price),
        "quantity_left": str(ad.last_quantity),
        "min_amount": str(ad.min_amount),
        "max_amount": str(ad.max_amount),
        "status": int(ad.status),
        "status_name": ad.status.name.lower(),
        "payment_ids": [t.id for t in ad.payment_terms],
        "payment_types": ad.payment_types,
        "remark": ad.remark,
    }


def register(app: typer.Typer) -> None:
    """Attach ``ads ...`` to the CLI."""
    ads_app = typer.Typer(help="Your ads on the exchange.", no_args_is_help=True)
    app.add_typer(ads_app, name="ads")
    ads_app.command("list")(ads_list)
    ads_app.command("create")(ads_create)
    ads_app.command("update")(ads_update)
    ads_app.command("remove")(ads_remove)
    ads_app.command("relist")(ads_relist)


def client_for(name: str | None) -> Exchange:
    """A client for the named account (default: the first); exit 2 if there is none."""
    from p2pilot.runtime.accounts import make_client

    config = load(logs_to_stderr=True)
    if not config.accounts:
        fail(f"no [[accounts]] in {config.source}", code=2)
    try:
        account = config.account(name) if name else config.accounts[0]
    except KeyError:
        fail(f"no account named {name!r} in {config.source}", code=2)
    return make_client(account)


def calling(action: Callable[[], Any]) -> Any:
    """Run an exchange call; a refusal or a failed check becomes one line and exit 1."""
    from p2pilot.exchange.ad_editing import AdCheckError, explain
    from p2pilot.exchange.errors import ExchangeError, Rejected

    try:
        return action()
    except AdCheckError as exc:
        fail(str(exc))
    except Rejected as exc:
        fail(explain(exc))
    except ExchangeError as exc:
        fail(str(exc))


def done(document: dict[str, Any], as_json: bool, text: str) -> None:
    """Print the outcome: ``document`` with ``--json``, else one line."""
    if as_json:
        print_json(document)
    else:
        typer.echo(text)


def ads_list(account: AccountOption = None, as_json: JsonFlag = False) -> None:
    """Your ads as the exchange has them now."""
    from p2pilot.jobs.ads import all_ads

    client = client_for(account)
    ads = calling(lambda: list(all_ads(client)))
    if as_json:
        print_json([ad_json(ad) for ad in ads])
        return
    from p2pilot.render.console import make_console
    from p2pilot.render.desk import ads as render_ads

    render_ads(make_console(), [ad_json(ad) for ad in ads])


def ads_create(
    side: Annotated[str, typer.Option(help="sell or buy (the token, from your side).")],
    price: Annotated[Decimal, typer.Option(parser=amount_of, help="Fixed price in fiat.")],
    quantity: Annotated[Decimal, typer.Option(parser=amount_of, help="Token amount on offer.")],
    min_amount: Annotated[
        Decimal, typer.Option("--min", parser=amount_of, help="Smallest order, fiat.")
    ],
    max_amount: Annotated[
        Decimal, typer.Option("--max", parser=amount_of, help="Largest order, fiat.")
    ],
    payment: Annotated[
        list[str], typer.Option(help="Your payment method id (repeat for several).")
    ],
    token: Annotated[str, typer.Option()] = "USDT",
    currency: Annotated[str, typer.Option()] = "RUB",
    period: Annotated[
        int, typer.Option(parser=whole(1, 1440), help="Minutes the buyer has to pay.")
    ] = 15,
    remark: Annotated[str, typer.Option()] = "",
    account: AccountOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Post a new fixed-price ad."""
    from p2pilot.exchange.ad_editing import AdCheckError, check_payment_ids, check_price
    from p2pilot.exchange.requests import AdParams
    from p2pilot.records import PriceType, Side

    if side not in ("sell", "buy"):
        fail(f"--side must be sell or buy, got {side!r}", code=2)
    client = client_for(account)

    def create() -> str:
        try:
            params = AdParams(
                token=token.upper(),
                currency=currency.upper(),
                side=Side.SELL if side == "sell" else Side.BUY,
                price_type=PriceType.FIXED,
                price=price,
                quantity=quantity,
                min_amount=min_amount,
                max_amount=max_amount,
                payment_ids=tuple(payment),
                payment_period=period,
                remark=remark,
            )
        except ValueError as exc:
            raise AdCheckError(str(exc)) from None
        check_price(params.price, None, params.currency)
        check_payment_ids(params.payment_ids, client.payment_methods())
        return client.create_ad(params)

    ad_id = calling(create)
    done({"id": ad_id, "created": True}, as_json, f"created ad {ad_id}")


def ads_update(
    ad_id: Annotated[str, typer.Argument(help="The ad's id.")],
    price: Annotated[Decimal | None, typer.Option(parser=amount_of)] = None,
    quantity: Annotated[
        Decimal | None, typer.Option(parser=amount_of, help="Token amount left on offer.")
    ] = None,
    min_amount: Annotated[Decimal | None, typer.Option("--min", parser=amount_of)] = None,
    max_amount: Annotated[Decimal | None, typer.Option("--max", parser=amount_of)] = None,
    payment: Annotated[list[str] | None, typer.Option(help="Replace payment ids.")] = None,
    remark: Annotated[str | None, typer.Option()] = None,
    account: AccountOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an online ad; what you do not name stays as it is."""
    from p2pilot.exchange.ad_editing import check_payment_ids, edited

    client = client_for(account)

    def update() -> None:
        ad = client.ad_detail(ad_id)
        params = edited(
            ad,
            price=price,
            quantity=quantity,
            min_amount=min_amount,
            max_amount=max_amount,
            remark=remark,
            payment_ids=tuple(payment) if payment else None,
        )
        if payment:
            check_payment_ids(params.payment_ids, client.payment_methods())
        client.update_ad(ad_id, params)

    calling(update)
    done({"id": ad_id, "updated": True}, as_json, f"updated ad {ad_id}")


def ads_remove(
    ad_id: Annotated[str, typer.Argument(help="The ad's id.")],
    account: AccountOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete an ad (Bybit has no pause: relisting a removed ad means creating it anew)."""
    client = client_for(account)
    calling(lambda: client.remove_ad(ad_id))
    done({"id": ad_id, "removed": True}, as_json, f"removed ad {ad_id}")


def ads_relist(
    ad_id: Annotated[str, typer.Argument(help="The ad's id.")],
    account: AccountOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Put an ad the exchange took offline back online, unchanged."""
    from p2pilot.exchange.ad_editing import edited

    client = client_for(account)
    calling(lambda: client.update_ad(ad_id, edited(client.ad_detail(ad_id)), action="ACTIVE"))
    done({"id": ad_id, "relisted": True}, as_json, f"relisted ad {ad_id}")
