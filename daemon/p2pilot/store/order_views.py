"""Stored orders as the command line shows them (the ``--json`` contract)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.records import OrderStatus, Side
from p2pilot.store.chat import ChatEntry, order_chat
from p2pilot.store.columns import same_named
from p2pilot.store.models import AccountRow, OrderEventRow, OrderRow
from p2pilot.store.payments import PaymentRecord
from p2pilot.store.types import decimal_text

# Unbound evidence that could pay an order, as the evidence package matches it.
HeldEvidence = Callable[[Session, OrderRow], Sequence[PaymentRecord]]


def status_name(code: int) -> str:
    """``paid`` for 20, ``unknown_<code>`` for a code this version does not know."""
    try:
        return OrderStatus(code).label
    except ValueError:
        return f"unknown_{code}"


def side_name(code: int) -> str:
    """``buy`` or ``sell`` (our side of the order)."""
    try:
        return Side(code).label
    except ValueError:
        return f"unknown_{code}"


def _money(value: Decimal | None) -> str | None:
    return decimal_text(value) if value is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class OrderView:
    """One stored order (``orders list``)."""

    id: str
    account: str
    side: str
    status: int
    status_name: str
    token: str
    currency: str
    amount: Decimal
    price: Decimal
    quantity: Decimal | None
    counterparty: str | None
    counterparty_user_id: str | None
    payment_type: int | None
    has_detail: bool
    created_at: datetime
    paid_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: OrderRow, account: str) -> OrderView:
        return cls(**_view_fields(row, account))

    def to_json(self) -> dict[str, Any]:
        """The JSON contract: decimals as exact text, times ISO 8601 UTC."""
        return same_named(
            self,
            OrderView,
            amount=_money(self.amount),
            price=_money(self.price),
            quantity=_money(self.quantity),
            created_at=_iso(self.created_at),
            paid_at=_iso(self.paid_at),
            first_seen_at=_iso(self.first_seen_at),
            updated_at=_iso(self.updated_at),
        )


def _view_fields(row: OrderRow, account: str) -> dict[str, Any]:
    return {
        "id": row.exchange_id,
        "account": account,
        "side": side_name(row.side),
        "status": row.status,
        "status_name": status_name(row.status),
        "token": row.token,
        "currency": row.currency,
        "amount": row.amount,
        "price": row.price,
        "quantity": row.quantity,
        "counterparty": row.counterparty_nickname,
        "counterparty_user_id": row.counterparty_user_id,
        "payment_type": row.payment_type,
        "has_detail": row.has_detail,
        "created_at": row.created_at,
        "paid_at": row.paid_at,
        "first_seen_at": row.first_seen_at,
        "updated_at": row.updated_at,
    }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One event of an order: what happened and when we recorded it."""

    event_id: int
    type: str
    at: datetime
    status: int | None
    from_status: int | None
    to_status: int | None
    handled_at: datetime | None
    detail: str

    @classmethod
    def from_row(cls, row: OrderEventRow) -> HistoryEntry:
        payload = row.payload
        from_status = payload.get("from")
        to_status = payload.get("to")
        if from_status is not None and to_status is not None:
            detail = f"{status_name(from_status)} → {status_name(to_status)}"
        elif "reported" in payload:
            detail = (
                f"stored {status_name(payload['stored'])}, "
                f"exchange reported {status_name(payload['reported'])}"
            )
        else:
            status = payload.get("status")
            detail = status_name(status) if isinstance(status, int) else ""
        return cls(
            event_id=row.id,
            type=row.type,
            at=row.created_at,
            status=payload.get("status"),
            from_status=from_status,
            to_status=to_status,
            handled_at=row.handled_at,
            detail=detail,
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "event_id": self.event_id,
            "type": self.type,
            "at": _iso(self.at),
            "status": self.status,
            "detail": self.detail,
            "handled_at": _iso(self.handled_at),
        }
        if self.from_status is not None:
            document["from"] = self.from_status
            document["to"] = self.to_status
        return document


@dataclass(frozen=True, slots=True)
class OrderDetailView:
    """One stored order with its history and chat (``orders show``)."""

    order: OrderView
    history: tuple[HistoryEntry, ...]
    chat: tuple[ChatEntry, ...]
    # Ledger rows (each release with its guard table) and the matched evidence.
    actions: tuple[dict[str, Any], ...] = field(default=())
    evidence: dict[str, Any] | None = None
    # Unbound evidence that fits this order but is held (each with its hold_reason).
    held_evidence: tuple[dict[str, Any], ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """``OrderView.to_json()`` plus ``history``, ``chat``, ``actions`` and evidence."""
        return self.order.to_json() | {
            "history": [entry.to_json() for entry in self.history],
            "chat": [message.to_json() for message in self.chat],
            "actions": [dict(action) for action in self.actions],
            "evidence": self.evidence,
            "held_evidence": [dict(held) for held in self.held_evidence],
        }


def list_orders(
    session: Session,
    *,
    status: int | None = None,
    account: str | None = None,
    limit: int | None = None,
) -> list[OrderView]:
    """Stored orders, newest first, optionally one status / one account / at most ``limit``."""
    statement = select(OrderRow, AccountRow.name).join(
        AccountRow, AccountRow.id == OrderRow.account_id
    )
    if status is not None:
        statement = statement.where(OrderRow.status == status)
    if account is not None:
        statement = statement.where(AccountRow.name == account)
    statement = statement.order_by(OrderRow.created_at.desc(), OrderRow.id.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return [OrderView.from_row(row, name) for row, name in session.execute(statement)]


def get_order(
    session: Session,
    exchange_id: str,
    account: str | None = None,
    *,
    held_for: HeldEvidence | None = None,
) -> OrderDetailView | None:
    """One stored order by the exchange's id, with history and chat; None if not stored.

    Two of our accounts can share an order (they traded with each other); without
    ``account`` the one stored first is shown. ``held_for`` names the unbound
    evidence that fits an order without any (the evidence package decides what
    fits); without it no held evidence is listed.
    """
    statement = (
        select(OrderRow, AccountRow.name)
        .join(AccountRow, AccountRow.id == OrderRow.account_id)
        .where(OrderRow.exchange_id == exchange_id)
    )
    if account is not None:
        statement = statement.where(AccountRow.name == account)
    found = session.execute(statement.order_by(OrderRow.id).limit(1)).first()
    if found is None:
        return None
    row, name = found
    events = session.scalars(
        select(OrderEventRow).where(OrderEventRow.order_id == row.id).order_by(OrderEventRow.id)
    )
    # Imported here: the ledger module builds on the models this module reads.
    from p2pilot.store import ledger, payments

    evidence = payments.for_order(session, row.id)
    held = held_for(session, row) if evidence is None and held_for is not None else []
    return OrderDetailView(
        order=OrderView.from_row(row, name),
        history=tuple(HistoryEntry.from_row(event) for event in events),
        chat=tuple(order_chat(session, row.account_id, row.exchange_id)),
        actions=tuple(action.to_json() for action in ledger.for_order(session, row.id)),
        evidence=evidence.to_json(row.exchange_id) if evidence is not None else None,
        held_evidence=tuple(p.to_json() for p in held if p.hold_reason is not None),
    )
