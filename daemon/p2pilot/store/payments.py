"""Payment evidence: fiat that really arrived, each piece usable for one order only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, cast, literal, select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import OrderRow, PaymentRow
from p2pilot.store.portable import affected, insert_new
from p2pilot.store.types import decimal_text


@dataclass(frozen=True, slots=True)
class PaymentRecord:
    id: int
    account_id: int | None
    amount: Decimal
    currency: str
    payer_name: str
    reference: str
    received_at: datetime
    source: str
    order_pk: int | None
    matched_at: datetime | None
    note: str | None
    hold_reason: str | None = None  # why unbound evidence is held (None: bound, or new)

    @property
    def held(self) -> bool:
        """Unbound, and kept from binding by itself until an operator decides."""
        return self.order_pk is None and self.hold_reason is not None

    @classmethod
    def from_row(cls, row: PaymentRow) -> PaymentRecord:
        return cls(**same_named(row, cls, order_pk=row.order_id))

    def to_json(self, order_id: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "amount": decimal_text(self.amount),
            "currency": self.currency,
            "payer_name": self.payer_name,
            "reference": self.reference,
            "received_at": self.received_at.isoformat(),
            "source": self.source,
            "order_id": order_id,
            "matched_at": self.matched_at.isoformat() if self.matched_at else None,
            "note": self.note,
            "hold_reason": self.hold_reason if self.order_pk is None else None,
        }


def add_payment(
    session: Session,
    *,
    amount: Decimal,
    currency: str,
    payer_name: str,
    reference: str,
    received_at: datetime,
    source: str,
    account_id: int | None,
    at: datetime,
) -> PaymentRecord | None:
    """Store new evidence; None when its reference was already reported (a replay)."""
    new_id = insert_new(
        session,
        PaymentRow,
        account_id=account_id,
        amount=amount,
        currency=currency,
        payer_name=payer_name,
        reference=reference,
        received_at=received_at,
        source=source,
        order_id=None,
        matched_at=None,
        note=None,
        created_at=at,
    )
    if new_id is None:
        return None
    row = session.get(PaymentRow, new_id)
    assert row is not None
    return PaymentRecord.from_row(row)


def unmatched(
    session: Session,
    *,
    currency: str | None = None,
    received_since: datetime | None = None,
    received_until: datetime | None = None,
) -> list[PaymentRecord]:
    """Evidence bound to no order yet, oldest first."""
    statement = select(PaymentRow).where(PaymentRow.order_id.is_(None))
    if currency is not None:
        statement = statement.where(PaymentRow.currency == currency)
    if received_since is not None:
        statement = statement.where(PaymentRow.received_at >= received_since)
    if received_until is not None:
        statement = statement.where(PaymentRow.received_at <= received_until)
    rows = session.scalars(statement.order_by(PaymentRow.received_at, PaymentRow.id))
    return [PaymentRecord.from_row(row) for row in rows]


def all_payments(
    session: Session, *, limit: int | None = None
) -> list[tuple[PaymentRecord, str | None]]:
    """Every piece of evidence, newest first, with the exchange id of its order if matched."""
    statement = (
        select(PaymentRow, OrderRow.exchange_id)
        .outerjoin(OrderRow, PaymentRow.order_id == OrderRow.id)
        .order_by(PaymentRow.received_at.desc(), PaymentRow.id.desc())
    )
    if limit is not None:
        statement = statement.limit(limit)
    return [
        (PaymentRecord.from_row(row), exchange_id)
        for row, exchange_id in session.execute(statement)
    ]


def match(session: Session, payment_id: int, order_pk: int, *, at: datetime) -> bool:
    """Bind evidence to an order; False when either is already bound to something else."""
    taken = session.scalars(select(PaymentRow.id).where(PaymentRow.order_id == order_pk)).first()
    if taken is not None:
        return taken == payment_id
    result = session.execute(
        update(PaymentRow)
        .where(PaymentRow.id == payment_id, PaymentRow.order_id.is_(None))
        .values(order_id=order_pk, matched_at=at, hold_reason=None, note=None)
    )
    return affected(result) > 0


def hold(session: Session, payment_id: int, reason: str, note: str) -> None:
    """Keep unbound evidence from binding by itself, saying why (``payments list --unmatched``)."""
    session.execute(
        update(PaymentRow)
        .where(PaymentRow.id == payment_id, PaymentRow.order_id.is_(None))
        .values(hold_reason=reason, note=note)
    )


@dataclass(frozen=True, slots=True)
class BoundPayment:
    """Evidence already bound, with the order it paid: what a new report may repeat."""

    payment: PaymentRecord
    order_id: str
    order_account_id: int
    kyc_name: str


def bound_between(
    session: Session,
    *,
    currency: str,
    since: datetime,
    until: datetime,
    amounts: tuple[Decimal, Decimal | None] | None = None,
) -> list[BoundPayment]:
    """Evidence in ``currency`` received in [since, until] and bound to an order.

    ``amounts``: only amounts in [low, high] (high None: no upper bound). A busy
    desk binds thousands of pieces a day; without it every new piece read them all.
    """
    query = (
        select(
            PaymentRow, OrderRow.exchange_id, OrderRow.account_id, OrderRow.counterparty_real_name
        )
        .join(OrderRow, PaymentRow.order_id == OrderRow.id)
        .where(
            PaymentRow.currency == currency,
            PaymentRow.received_at >= since,
            PaymentRow.received_at <= until,
        )
        .order_by(PaymentRow.received_at, PaymentRow.id)
    )
    if amounts is not None:
        # Amounts are text: compared as such, "5000.00" > "5000" and "10000" < "9000".
        # Both sides cast to NUMERIC (exact on PostgreSQL; on SQLite a float, whose
        # rounding keeps the order, so the range still holds every amount that fits).
        low, high = amounts
        amount = cast(PaymentRow.amount, Numeric())
        query = query.where(amount >= cast(literal(decimal_text(low)), Numeric()))
        if high is not None:
            query = query.where(amount <= cast(literal(decimal_text(high)), Numeric()))
    rows = session.execute(query)
    return [
        BoundPayment(PaymentRecord.from_row(row), exchange_id, account_id, kyc or "")
        for row, exchange_id, account_id, kyc in rows
    ]


def get(session: Session, payment_id: int) -> PaymentRecord | None:
    row = session.get(PaymentRow, payment_id)
    return PaymentRecord.from_row(row) if row is not None else None


def for_order(session: Session, order_pk: int) -> PaymentRecord | None:
    row = session.scalars(select(PaymentRow).where(PaymentRow.order_id == order_pk)).one_or_none()
    return PaymentRecord.from_row(row) if row is not None else None
