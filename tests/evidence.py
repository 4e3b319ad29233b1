"""Payment evidence for tests: a bank transfer reported through the intake, or stored as is."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from p2pilot.evidence.intake import IntakeResult, record_evidence
from p2pilot.store import payments
from p2pilot.store.engine import Store


def report_payment(
    store: Store,
    amount: Decimal | str,
    reference: str,
    *,
    at: datetime | None = None,
    payer: str = "",
    source: str = "operator",
    currency: str = "RUB",
    **target: Any,
) -> IntakeResult:
    """Evidence received and recorded at ``at`` (now by default), by default the operator's
    confirmation; ``target`` is what record_evidence takes besides: account, order_id, policy.

    Raises EvidenceError, as record_evidence does, when the evidence cannot be taken.
    """
    now = at or datetime.now(UTC)
    return record_evidence(
        store,
        amount=Decimal(amount),
        currency=currency,
        payer_name=payer,
        reference=reference,
        received_at=now,
        source=source,
        now=now,
        **target,
    )


def stored_payment(
    session: Session,
    amount: str,
    reference: str,
    *,
    payer: str,
    source: str = "test",
    account_id: int | None = None,
    at: datetime | None = None,
) -> int:
    """Evidence stored without binding it to an order (new: its reference not seen before)."""
    now = at or datetime.now(UTC)
    payment = payments.add_payment(
        session,
        amount=Decimal(amount),
        currency="RUB",
        payer_name=payer,
        reference=reference,
        received_at=now,
        source=source,
        account_id=account_id,
        at=now,
    )
    assert payment is not None, f"{reference} was reported before"
    return payment.id
