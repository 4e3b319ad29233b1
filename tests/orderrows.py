"""Stored orders for tests that start from the database, not from the exchange."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

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
