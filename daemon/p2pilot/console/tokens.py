"""Bearer tokens as the gate checks them: stored digest, and a user still in the config."""

from __future__ import annotations

from datetime import UTC, datetime

from p2pilot.console.gate import TokenCheck
from p2pilot.store import console_tokens
from p2pilot.store.engine import Store


def token_check(store: Store, users: frozenset[str] | None = None) -> TokenCheck:
    """A check of a bearer token against ``store``; ``users`` limits who may still act."""

    def check(token: str) -> str | None:
        if not token.startswith(console_tokens.PREFIX) or len(token) > 200:
            return None  # not one of ours: no database round trip
        with store.transaction() as session:
            name = console_tokens.operator_of(session, token, at=datetime.now(UTC))
        if name is None or (users is not None and name not in users):
            return None  # a user taken out of the config loses their tokens too
        return name

    return check
