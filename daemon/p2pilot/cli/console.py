"""``p2pilot console``: serve the web console; ``hash-password``; bearer tokens for scripts."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import typer

from p2pilot.cli.app import JsonFlag, fail, load
from p2pilot.logging import get_logger
from p2pilot.terminal import printable

log = get_logger("p2pilot.console")


def register(app: typer.Typer) -> typer.Typer:
    """Attach the ``console`` group to the CLI; returns it (``token`` hangs below it)."""
    console_app = typer.Typer(
        help="The web console: the desk in a browser ([console] in the config).",
        invoke_without_command=True,
    )
    app.add_typer(console_app, name="console")
    console_app.callback(invoke_without_command=True)(serve)
    console_app.command("hash-password")(hash_password)
    token_app = typer.Typer(help="Bearer tokens for scripts using the console's API.")
    console_app.add_typer(token_app, name="token")
    token_app.command("create")(token_create)
    token_app.command("list")(token_list)
    token_app.command("revoke")(token_revoke)
    return console_app


def serve(
    ctx: typer.Context,
    wait: Annotated[
        float,
        typer.Option(help="Wait this many seconds for the daemon to migrate the database."),
    ] = 0.0,
) -> None:
    """Serve the console on \\[console] listen (default 127.0.0.1:8088) until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from p2pilot.console.app import create_app
    from p2pilot.evidence.server import is_loopback
    from p2pilot.store.engine import Store

    config = load(logs_to_stderr=False)
    settings = config.console
    if not settings.users:
        fail(
            "no [[console.users]] in the config: add one with a password_hash from"
            " `p2pilot console hash-password`",
            code=78,
        )
    store = Store(config.database.url)
    try:
        _wait_for_schema(store, wait)
        host, _, port = settings.listen.rpartition(":")
        app = create_app(config, store)
        if not is_loopback(settings.listen):
            log.warning(
                "console.exposed",
                listen=settings.listen,
                hint="bind it to 127.0.0.1 and put a TLS proxy in front of it",
            )
        log.info("console.listening", url=f"http://{settings.listen}/")
        uvicorn.run(
            app,
            host=host.strip("[]"),
            port=int(port),
            proxy_headers=True,
            forwarded_allow_ips=list(settings.trusted_proxies),
            log_config=None,  # our logging pipeline (redacting) carries uvicorn's lines
            access_log=False,
            server_header=False,
        )
    finally:
        store.dispose()


def _wait_for_schema(store: object, seconds: float) -> None:
    from p2pilot.store.engine import Store
    from p2pilot.store.migrate import is_current

    assert isinstance(store, Store)
    deadline = time.monotonic() + seconds
    while True:
        try:
            if is_current(store.engine):
                return
        except Exception as exc:  # the database may not be reachable yet either
            reason = type(exc).__name__
        else:
            reason = "the schema is not at the newest revision"
        if time.monotonic() >= deadline:
            fail(
                f"database not ready ({reason}): start the daemon (it migrates)"
                " or run `p2pilot db upgrade`"
            )
        time.sleep(0.5)


def hash_password() -> None:
    """Read a password on stdin; print its argon2 hash (\\[\\[console.users]] password_hash)."""
    from p2pilot.console.auth import hash_password as make_hash

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            fail("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 8:
        fail("a console password needs at least 8 characters")
    typer.echo(make_hash(password))


def token_create(
    user: Annotated[str, typer.Option("--user", help="The [[console.users]] name it acts as.")],
    label: Annotated[
        str | None, typer.Option(help="What it is for, e.g. the script's name.")
    ] = None,
) -> None:
    """Print a new API token for USER (shown once; the database keeps only its digest)."""
    from datetime import UTC, datetime

    from p2pilot.cli.app import open_store
    from p2pilot.store import console_tokens

    with open_store() as (config, store):
        if user not in {u.name for u in config.console.users}:
            fail(f"no [[console.users]] named {user!r} in the config", code=2)
        with store.transaction() as session:
            token = console_tokens.create(session, operator=user, label=label, at=datetime.now(UTC))
    typer.echo(token)


def token_list(as_json: JsonFlag = False) -> None:
    """The API tokens: id, user, label, when made and last used (never the token)."""
    from p2pilot.cli.app import open_store, print_json
    from p2pilot.store import console_tokens

    with open_store() as (_config, store), store.transaction(read_only=True) as session:
        documents = console_tokens.listed(session)
    if as_json:
        print_json(documents)
        return
    if not documents:
        typer.echo("no console tokens")
    for document in documents:
        used = document["last_used_at"] or "never used"
        label = f" ({printable(document['label'])})" if document["label"] else ""
        made = document["created_at"]
        typer.echo(f"#{document['id']} {document['operator']}{label}, made {made}, {used}")


def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (token list).")],
) -> None:
    """Revoke an API token at once."""
    from p2pilot.cli.app import open_store
    from p2pilot.store import console_tokens

    with open_store() as (_config, store), store.transaction() as session:
        if not console_tokens.revoke(session, token_id):
            fail(f"no console token {token_id}")
    typer.echo(f"token {token_id} revoked")
