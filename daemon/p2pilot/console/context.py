"""What every console handler shares: the config, the store, the clock, the templates."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from p2pilot.config import Config
from p2pilot.console import filters
from p2pilot.console.auth import LoginThrottle, Operator, Sessions
from p2pilot.operator import OperatorCommands
from p2pilot.store.engine import Store

HERE = Path(__file__).parent


@dataclass
class Console:
    """What every handler needs: the config, the store, the clock, the login state."""

    config: Config
    store: Store
    sessions: Sessions
    commands: OperatorCommands
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """One read-only transaction."""
        with self.store.transaction(read_only=True) as session:
            yield session


def console_of(request: Request) -> Console:
    """The ``Console`` of the app serving ``request``."""
    console: Console = request.app.state.console
    return console


def operator_of(request: Request) -> Operator:
    """The operator the gate let in (every route but /login and static files has one)."""
    operator: Operator = request.scope["state"]["operator"]
    return operator


def templates() -> Jinja2Templates:
    """The page templates, HTML-escaped everywhere (buyers write nicknames and chat)."""
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(environment)
    return Jinja2Templates(env=environment)
