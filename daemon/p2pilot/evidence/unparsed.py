"""An unparsed bank text becomes evidence when the operator reads it for the templates."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from p2pilot.evidence.amounts import currency_of
from p2pilot.evidence.intake import EvidenceError, IntakeResult, record_evidence
from p2pilot.evidence.matching import MatchPolicy
from p2pilot.logging import get_logger
from p2pilot.store import notifications
from p2pilot.store.accounts import account_name
from p2pilot.store.engine import Store

log = get_logger(__name__)


class UnparsedError(ValueError):
    """The text cannot be recorded as asked; the message says why."""


def record_unparsed(
    database_url: str,
    notification_id: int,
    *,
    policy: MatchPolicy,
    amount: Decimal,
    payer: str,
    currency: str | None = None,
    reference: str | None = None,
    order_id: str | None = None,
) -> IntakeResult:
    """Record unparsed text ``notification_id`` as evidence, through ``record_evidence``."""
    store = Store(database_url)
    try:
        with store.transaction(read_only=True) as session:
            note = notifications.get(session, notification_id)
            if note is None:
                raise UnparsedError(f"no bank text #{notification_id}")
            if note.status != notifications.UNPARSED:
                raise UnparsedError(f"bank text #{notification_id} is {note.status}, not unparsed")
            account = account_name(session, note.account_id) if note.account_id else None
        code = (currency or currency_of(note.text) or "").upper()
        if not code:
            raise UnparsedError("the text names no currency: pass --currency")
        now = datetime.now(UTC)
        try:
            result = record_evidence(
                store,
                amount=amount,
                currency=code,
                payer_name=payer,
                reference=reference or f"text-{notification_id}",
                received_at=note.received_at,
                source=f"operator:{note.source}"[:32],
                now=now,
                account=account,
                order_id=order_id,
                policy=policy,
            )
        except EvidenceError as exc:
            raise UnparsedError(str(exc)) from exc
        if not result.stored or result.payment_id is None:
            raise UnparsedError(result.reason)
        with store.transaction() as session:
            notifications.settle(
                session,
                notification_id,
                payment_id=result.payment_id,
                amount=amount,
                currency=code,
                payer_name=payer,
                reference=reference,
            )
        log.info(
            "notification.recorded",
            notification_id=notification_id,
            payment_id=result.payment_id,
            order_id=result.order_id,
            reason=result.reason,
        )
        return result
    finally:
        store.dispose()
