"""The console's Starlette application: pages, the JSON API, login, static files.

Handlers are plain functions: Starlette runs them in its thread pool, where the
store's blocking sessions belong. Every read is one read-only transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from p2pilot.clocks import utc_now
from p2pilot.config import Config
from p2pilot.console import actions, api, login, pages
from p2pilot.console.auth import LoginThrottle, Sessions
from p2pilot.console.context import HERE, Console, templates
from p2pilot.console.gate import Gate, TokenCheck
from p2pilot.console.tokens import token_check
from p2pilot.operator import OperatorCommands
from p2pilot.store.engine import Store


def create_app(
    config: Config,
    store: Store,
    *,
    tokens: TokenCheck | None = None,
    clock: Callable[[], datetime] | None = None,
    throttle: LoginThrottle | None = None,
    commands: OperatorCommands | None = None,
) -> Starlette:
    """The console for ``config`` on ``store``.

    ``tokens`` checks API bearer tokens (by default against the store's, for the
    users the config still lists).

    ``commands`` is the operator layer the forms, the API and the approvals page
    call (by default one over the same store, config and clock).
    """
    sessions = Sessions(config.console, store)
    now = clock or utc_now
    console = Console(
        config=config,
        store=store,
        sessions=sessions,
        commands=commands or OperatorCommands(store, config, clock=now),
        clock=now,
    )
    if throttle is not None:
        console.throttle = throttle
    routes: list[BaseRoute] = [
        *login.routes(),
        *pages.routes(),
        *actions.page_routes(),
        Mount("/api/v1", routes=[*api.routes(), *actions.api_routes()]),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    if tokens is None:
        tokens = token_check(store, frozenset(user.name for user in config.console.users))
    app = Starlette(routes=routes, middleware=[Middleware(Gate, sessions=sessions, tokens=tokens)])
    app.state.console = console
    app.state.templates = templates()
    return app
