"""Stored orders, and ledger rows for them, for tests that start from the database, not
from the exchange."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from p2pilot.store import ledger
from p2pilot.store.ledger import ActionRecord, ActionState
from p2pilot.store.models import OrderRow


def sell_order_row(
    account_id: int, exchange_id: str, amount: str = "500.00", **changes: Any
) -> OrderRow:
    """A paid RUB sell order as the orders job stores it (with its detail read).

    ``changes`` overrides any column: the status, the counterparty, the times.
    """
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "account_id": account_id,
        "exchange_id": exchange_id,
        "side": 1,
        "status": 20,
        "token": "USDT",
        "currency": "RUB",
        "amount": Decimal(amount),
        "price": Decimal("81.00"),
        "quantity": None,
        "created_at": now,
        "first_seen_at": now,
        "updated_at": now,
        "has_detail": True,
        "raw": {},
    }
    values.update(changes)
    return OrderRow(**values)


def claimed_action(
    session: Session,
    account_id: int,
    order_pk: int | None,
    key: str,
    *,
    at: datetime,
    rule: str = "release",
    kind: str = "release",
) -> ActionRecord:
    """A ledger row newly claimed under ``key``, as a rule's handler claims one (no event)."""
    action = ledger.claim(
        session,
        key=key,
        account_id=account_id,
        event_id=None,
        order_pk=order_pk,
        rule=rule,
        kind=kind,
        at=at,
    )
    assert action is not None, f"{key} was claimed before"
    return action


def await_approval(
    session: Session, account_id: int, order_pk: int, exchange_id: str, amount: str, at: datetime
) -> int:
    """Leave the stored order's release waiting for an operator, as the release handler
    does in approve mode: the id of its release action."""
    action = claimed_action(session, account_id, order_pk, f"ev0/release/0:{exchange_id}", at=at)
    ledger.transition(
        session,
        action.id,
        ActionState.AWAITING,
        at=at,
        error="operator_approval: waiting",
        detail={"decision": "awaiting approval", "amount": amount},
    )
    return action.id
