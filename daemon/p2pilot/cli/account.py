"""``p2pilot account``: account info and payment methods, read from the exchange."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from p2pilot.cli.app import JsonFlag, fail, load, print_json


def register(app: typer.Typer) -> None:
    """Attach ``account`` to the CLI."""
    app.command()(account)


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
