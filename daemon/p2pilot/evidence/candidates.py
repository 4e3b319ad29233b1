"""The orders evidence is matched against: our open sell orders still without evidence."""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from p2pilot.evidence.matching import EvidenceCandidate
from p2pilot.records import OrderStatus, Side
from p2pilot.store.models import AccountRow, OrderRow, PaymentRow
from p2pilot.store.orders import of_any_account

OPEN_ORDER_STATUSES = (int(OrderStatus.AWAITING_PAYMENT), int(OrderStatus.PAID))


def open_candidates(session: Session, currency: str) -> list[EvidenceCandidate]:
    """Our sell orders in ``currency`` that may still receive fiat and have no evidence yet."""
    # Columns only: a matching pass must not load (and decode) every open order's raw JSON.
    rows = session.execute(
        select(
            OrderRow.exchange_id,
            AccountRow.name,
            OrderRow.amount,
            OrderRow.currency,
            OrderRow.counterparty_real_name,
            OrderRow.created_at,
        )
        .join(AccountRow, AccountRow.id == OrderRow.account_id)
        .where(
            of_any_account(),  # on each piece of evidence: through the index
            OrderRow.side == int(Side.SELL),
            OrderRow.status.in_(OPEN_ORDER_STATUSES),
            OrderRow.currency == currency,
            ~exists().where(PaymentRow.order_id == OrderRow.id),
        )
    )
    return [
        EvidenceCandidate(
            order_id=exchange_id,
            account=account,
            amount=amount,
            currency=order_currency,
            payer_name=real_name or "",
            created_at=created_at,
        )
        for exchange_id, account, amount, order_currency, real_name, created_at in rows
    ]
