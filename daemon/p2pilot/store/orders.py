"""Order snapshots: compare what the exchange reports with what is stored, record changes.

``apply_order`` is the write side the orders job calls, once per order inside the
tick's transaction: it writes the new snapshot and one outbox event per change,
and writes nothing at all when nothing meaningful changed. The read side for the
command line (``list_orders``, ``get_order``) lives in ``order_views``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from p2pilot.records import FINAL_STATUSES, OrderDetail, OrderStatus, OrderSummary, Side
from p2pilot.store.accounts import account_name
from p2pilot.store.events import append_event
from p2pilot.store.models import AccountRow, OrderEventRow, OrderRow
from p2pilot.store.order_views import (
    HistoryEntry,
    OrderDetailView,
    OrderView,
    get_order,
    list_orders,
    side_name,
    status_name,
)
from p2pilot.store.releases import release_state
from p2pilot.store.types import decimal_text

__all__ = [
    "ALIAS_EVENTS",
    "FINAL_CODES",
    "HistoryEntry",
    "KnownOrder",
    "OrderDetailView",
    "OrderView",
    "apply_order",
    "event_payload",
    "fingerprint",
    "get_order",
    "list_orders",
    "load_known",
    "record_fingerprint",
    "side_name",
    "status_name",
]

CREATED = "order.created"
STATUS_CHANGED = "order.status_changed"
ANOMALY = "order.anomaly"

# The event named for each status an order can reach (design: "one alias per status").
ALIAS_EVENTS: dict[int, str] = {
    OrderStatus.AWAITING_PAYMENT: "order.awaiting_payment",
    OrderStatus.PAID: "order.paid",
    OrderStatus.APPEAL: "order.appeal",
    OrderStatus.OBJECTIONING: "order.appeal",
    OrderStatus.AWAITING_OBJECTION: "order.appeal",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.CANCELLED_EXCEPTION: "order.cancelled",
    OrderStatus.COMPLETED: "order.completed",
}
FINAL_CODES = frozenset(int(status) for status in FINAL_STATUSES)
# Spelled out rather than "not final", so the (account_id, status) index finds them
# without reading every finished order (parsing admits known codes only).
OPEN_CODES = tuple(sorted(int(status) for status in OrderStatus if not status.is_final))

# Fields whose change is worth a write. Counters that tick on every poll
# (seconds left to pay, unread counts) are deliberately absent.
MEANINGFUL = (
    "status",
    "amount",
    "price",
    "quantity",
    "paid_at",
    "counterparty_nickname",
    "counterparty_user_id",
    "payment_type",
)
ID_CHUNK = 500  # keeps IN (...) lists well under every backend's bind-parameter limit

OrderRecord = OrderSummary | OrderDetail


@dataclass(frozen=True, slots=True)
class KnownOrder:
    """What the orders job needs to know about a stored order to decide on a detail read."""

    status: int
    has_detail: bool
    fingerprint: str


def fingerprint(
    status: int,
    amount: Decimal,
    price: Decimal,
    counterparty_user_id: str | None,
    counterparty_nickname: str | None,
) -> str:
    """A short digest of the fields both the list and the detail endpoints report."""
    parts = (
        str(int(status)),
        str(amount.normalize()),
        str(price.normalize()),
        counterparty_user_id or "",
        counterparty_nickname or "",
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def record_fingerprint(order: OrderRecord) -> str:
    """``fingerprint`` of a record from the exchange, comparable with ``KnownOrder``'s."""
    return fingerprint(
        order.status,
        order.amount,
        order.price,
        order.counterparty_user_id or None,
        order.counterparty_nickname or None,
    )


def _chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for order_id in dict.fromkeys(ids):
        batch.append(order_id)
        if len(batch) == ID_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def load_known(
    session: Session, account_id: int, ids: Iterable[str] | None = None
) -> dict[str, KnownOrder]:
    """Stored orders by exchange id: those in ``ids``, or every non-final one when None."""
    columns = select(
        OrderRow.exchange_id,
        OrderRow.status,
        OrderRow.has_detail,
        OrderRow.amount,
        OrderRow.price,
        OrderRow.counterparty_user_id,
        OrderRow.counterparty_nickname,
    ).where(OrderRow.account_id == account_id)
    if ids is None:
        statements = [columns.where(OrderRow.status.in_(OPEN_CODES))]
    else:
        statements = [columns.where(OrderRow.exchange_id.in_(chunk)) for chunk in _chunks(ids)]
    known: dict[str, KnownOrder] = {}
    for statement in statements:
        for exchange_id, status, has_detail, amount, price, cp_id, cp_nick in session.execute(
            statement
        ):
            known[exchange_id] = KnownOrder(
                status=status,
                has_detail=has_detail,
                fingerprint=fingerprint(status, amount, price, cp_id, cp_nick),
            )
    return known


def _merged(row: OrderRow | None, order: OrderRecord, now: datetime) -> dict[str, Any]:
    """The column values after taking ``order`` in; a summary never erases detail."""

    def kept(name: str) -> Any:
        return getattr(row, name) if row is not None else None

    values: dict[str, Any] = {
        "side": int(order.side),
        "status": int(order.status),
        "token": order.token,
        "currency": order.currency,
        "amount": order.amount,
        "price": order.price,
        "quantity": order.quantity if order.quantity is not None else kept("quantity"),
        "counterparty_nickname": order.counterparty_nickname or kept("counterparty_nickname"),
        "counterparty_user_id": order.counterparty_user_id or kept("counterparty_user_id"),
        "counterparty_real_name": _counterparty_real_name(order) or kept("counterparty_real_name"),
        "created_at": order.created_at,
        "updated_at": now,
        "raw": order.raw,
    }
    if isinstance(order, OrderDetail):
        values.update(
            counterparty_mask_id=order.counterparty_mask_id or kept("counterparty_mask_id"),
            item_id=order.item_id or kept("item_id"),
            payment_type=order.payment_type,
            paid_at=order.paid_at if order.paid_at is not None else kept("paid_at"),
            exchange_updated_at=order.updated_at or kept("exchange_updated_at"),
            has_detail=True,
        )
    else:
        # Detail fields stay as they are; but a summary that moves the status makes
        # the stored detail stale, so the job reads order/info again.
        still_current = row is not None and row.has_detail and row.status == int(order.status)
        values["has_detail"] = still_current
    return values


def _counterparty_real_name(order: OrderRecord) -> str:
    # Side is ours: when we sell, the counterparty is the buyer, and the other way round.
    return order.buyer_real_name if order.side == Side.SELL else order.seller_real_name


def _meaningful_change(row: OrderRow, values: dict[str, Any]) -> bool:
    if not row.has_detail and values["has_detail"]:
        return True
    return any(name in values and getattr(row, name) != values[name] for name in MEANINGFUL)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_payload(account: str, row: OrderRow) -> dict[str, Any]:
    """The stored record as every order event carries it (JSON-ready, decimals as text)."""
    return {
        "account": account,
        "order_id": row.exchange_id,
        "side": side_name(row.side),
        "status": row.status,
        "status_name": status_name(row.status),
        "token": row.token,
        "currency": row.currency,
        "amount": decimal_text(row.amount),
        "price": decimal_text(row.price),
        "quantity": decimal_text(row.quantity) if row.quantity is not None else None,
        "counterparty": row.counterparty_nickname,
        "counterparty_user_id": row.counterparty_user_id,
        "payment_type": row.payment_type,
        "has_detail": row.has_detail,
        "created_at": _iso(row.created_at),
        "paid_at": _iso(row.paid_at),
    }


def _write(
    session: Session,
    account_id: int,
    row: OrderRow,
    types: list[str],
    payload: dict[str, Any],
    now: datetime,
) -> list[str]:
    for event_type in types:
        append_event(
            session,
            account_id=account_id,
            order_pk=row.id,
            type=event_type,
            payload=payload,
            at=now,
        )
    return types


def _cached_account_name(session: Session, account_id: int) -> str:
    names: dict[int, str] = session.info.setdefault("p2pilot.account_names", {})
    if account_id not in names:
        names[account_id] = account_name(session, account_id)
    return names[account_id]


def apply_order(
    session: Session,
    account_id: int,
    order: OrderRecord,
    *,
    now: datetime,
    announce_new: bool = True,
) -> list[str]:
    """Take one order as the exchange reports it; returns the event types written.

    ``announce_new=False`` stores a never-seen order without events: the first
    sweep of a new account uses it for history that finished before p2pilot ran,
    so rules do not greet or notify about months-old orders.
    """
    account = _cached_account_name(session, account_id)
    # Locked (PostgreSQL; SQLite write transactions are serial anyway): the orders tick
    # and a release recording its completion may write the same order at once.
    row = session.scalars(
        select(OrderRow)
        .where(OrderRow.account_id == account_id, OrderRow.exchange_id == order.id)
        .with_for_update()
    ).one_or_none()

    if row is None:
        row = OrderRow(account_id=account_id, exchange_id=order.id, first_seen_at=now)
        for name, value in _merged(None, order, now).items():
            setattr(row, name, value)
        session.add(row)
        session.flush()
        if not announce_new:
            return []
        types = [CREATED]
        if row.status in ALIAS_EVENTS:
            types.append(ALIAS_EVENTS[row.status])
        return _write(session, account_id, row, types, event_payload(account, row), now)

    reported = int(order.status)
    if row.status in FINAL_CODES and reported != row.status:
        if _read_before_our_release(session, row, reported):
            return []
        return _anomaly(session, account, account_id, row, reported, now)

    values = _merged(row, order, now)
    if not _meaningful_change(row, values):
        return []
    before = row.status
    for name, value in values.items():
        setattr(row, name, value)
    session.flush()
    if row.status == before:
        return []
    payload = event_payload(account, row) | {"from": before, "to": row.status}
    types = [STATUS_CHANGED]
    if row.status in ALIAS_EVENTS:
        types.append(ALIAS_EVENTS[row.status])
    return _write(session, account_id, row, types, payload, now)


def _read_before_our_release(session: Session, row: OrderRow, reported: int) -> bool:
    """A "paid" read that crossed our own release, which already recorded the completion."""
    return (
        row.status == int(OrderStatus.COMPLETED)
        and reported == int(OrderStatus.PAID)
        and release_state(session, row.id) == "succeeded"
    )


def _anomaly(
    session: Session, account: str, account_id: int, row: OrderRow, reported: int, now: datetime
) -> list[str]:
    # A final status is never undone. Say so once per distinct reported status, so
    # an exchange that keeps reporting it does not flood the outbox.
    earlier = session.scalars(
        select(OrderEventRow.payload).where(
            OrderEventRow.order_id == row.id, OrderEventRow.type == ANOMALY
        )
    )
    if any(payload.get("reported") == reported for payload in earlier):
        return []
    payload = event_payload(account, row) | {
        "stored": row.status,
        "reported": reported,
        "reported_name": status_name(reported),
    }
    return _write(session, account_id, row, [ANOMALY], payload, now)


@dataclass(frozen=True, slots=True)
class AwaitingRelease:
    """The paid sell order that has waited longest for its release."""

    order_id: str
    account: str
    since: datetime  # when it was paid (its creation time if the exchange gave none)


def of_any_account() -> ColumnElement[bool]:
    """Orders of every account, spelled so that the ``(account_id, status)`` index serves.

    Without an account term SQLite scans every order ever stored to find a status.
    """
    return OrderRow.account_id.in_(select(AccountRow.id))


def oldest_awaiting_release(session: Session) -> AwaitingRelease | None:
    """The oldest paid sell order on any account, or None when none waits."""
    row = session.execute(
        select(OrderRow.exchange_id, AccountRow.name, OrderRow.paid_at, OrderRow.created_at)
        .join(AccountRow, AccountRow.id == OrderRow.account_id)
        .where(
            of_any_account(),
            OrderRow.status == int(OrderStatus.PAID),
            OrderRow.side == int(Side.SELL),
        )
        .order_by(func.coalesce(OrderRow.paid_at, OrderRow.created_at))
        .limit(1)
    ).first()
    if row is None:
        return None
    order_id, account, paid_at, created_at = row
    return AwaitingRelease(order_id, account, paid_at or created_at)
