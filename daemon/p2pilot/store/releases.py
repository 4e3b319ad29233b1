"""One release per order, and the totals the daily limits are checked against.

A release is claimed here (a row unique per order) in the same transaction that
moves its ledger row to ``sent``, before the exchange is called. A second claim
for the same order, from any rule, event or daemon, finds the row and stops --
unless the exchange definitely refused the earlier call, which may be retried.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2pilot.store.models import ReleaseRow
from p2pilot.store.portable import insert_new

# Released, or possibly released: both count against the limits.
COUNTED_STATES = ("sent", "succeeded", "unknown")


def claim_release(
    session: Session,
    *,
    account_id: int,
    order_pk: int,
    action_id: int,
    amount: Decimal,
    currency: str,
    counterparty_user_id: str | None,
    at: datetime,
) -> bool:
    """Reserve the order's one release; False when it is already taken."""
    new_id = insert_new(
        session,
        ReleaseRow,
        account_id=account_id,
        order_id=order_pk,
        action_id=action_id,
        amount=amount,
        currency=currency,
        counterparty_user_id=counterparty_user_id,
        state="sent",
        created_at=at,
        updated_at=at,
    )
    if new_id is not None:
        return True
    # A release the exchange definitely refused ("failed") may be tried again; the
    # conditional UPDATE lets exactly one claimant win, as the insert does.
    result = session.execute(
        update(ReleaseRow)
        .where(ReleaseRow.order_id == order_pk, ReleaseRow.state == "failed")
        .values(
            action_id=action_id,
            amount=amount,
            state="sent",
            created_at=at,
            updated_at=at,
        )
        .returning(ReleaseRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


def settle_release(session: Session, order_pk: int, state: str, *, at: datetime) -> None:
    row = session.scalars(select(ReleaseRow).where(ReleaseRow.order_id == order_pk)).one()
    row.state = state
    row.updated_at = at


def release_state(session: Session, order_pk: int) -> str | None:
    return session.scalars(
        select(ReleaseRow.state).where(ReleaseRow.order_id == order_pk)
    ).one_or_none()


def released_total(
    session: Session,
    *,
    account_id: int,
    currency: str,
    since: datetime,
    counterparty_user_id: str | None = None,
) -> Decimal:
    """Sum of releases (sent, succeeded or unknown) since ``since``, in one currency."""
    statement = select(ReleaseRow.amount).where(
        ReleaseRow.account_id == account_id,
        ReleaseRow.currency == currency,
        ReleaseRow.created_at >= since,
        ReleaseRow.state.in_(COUNTED_STATES),
    )
    if counterparty_user_id is not None:
        statement = statement.where(ReleaseRow.counterparty_user_id == counterparty_user_id)
    # Summed in Python: amounts are exact decimal text in the database.
    return sum(session.scalars(statement), Decimal(0))
