"""``p2pilot db upgrade | current``: the database's schema."""

from __future__ import annotations

import typer

from p2pilot.cli.app import open_store


def register(app: typer.Typer) -> None:
    """Attach the ``db`` group to the CLI."""
    db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
    app.add_typer(db_app, name="db")
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)


def db_upgrade() -> None:
    """Apply every pending migration."""
    from p2pilot.store.engine import redact_url
    from p2pilot.store.migrate import current_revision, upgrade

    with open_store() as (config, store):
        upgrade(store)
        with store.engine.connect() as connection:
            revision = current_revision(connection)
        typer.echo(f"{redact_url(config.database.url)}: at revision {revision}")


def db_current() -> None:
    """Show the database's schema revision and whether it is the newest."""
    from p2pilot.store.engine import redact_url
    from p2pilot.store.migrate import current_revision, head_revision

    with open_store() as (config, store), store.engine.connect() as connection:
        revision = current_revision(connection)
    head = head_revision()
    state_text = "up to date" if revision == head else f"behind (newest is {head})"
    typer.echo(f"{redact_url(config.database.url)}: {revision or 'empty'} — {state_text}")
