"""One release per order, and the totals the daily limits are checked against.

A release is claimed here (a row unique per order) in the same transaction that
moves its ledger row to ``sent``, before the exchange is called. A second claim
for the same order, from any rule, event or daemon, finds the row and stops --
unless the exchange definitely refused the earlier call, which may be retried.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class ReleaseClaim:
    """Who holds an order's one release, and how it stands."""

    action_id: int
    state: str


def settle_release(
    session: Session, order_pk: int, state: str, *, action_id: int, at: datetime
) -> bool:
    """Settle the claim ``action_id`` holds, still ``sent``; False when there is none.

    Only the claimant settles, and only once: after a definite refusal another
    action may have claimed the order again, and two daemons may work on one row
    (a lapsed lease): a late word, a refusal after the other's success, must not
    touch a claim already settled.
    """
    result = session.execute(
        update(ReleaseRow)
        .where(
            ReleaseRow.order_id == order_pk,
            ReleaseRow.action_id == action_id,
            ReleaseRow.state == "sent",
        )
        .values(state=state, updated_at=at)
        .returning(ReleaseRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.scalar_one_or_none() is not None


def claim_of(session: Session, order_pk: int) -> ReleaseClaim | None:
    """The order's release claim, if any action ever made one."""
    row = session.execute(
        select(ReleaseRow.action_id, ReleaseRow.state).where(ReleaseRow.order_id == order_pk)
    ).one_or_none()
    return None if row is None else ReleaseClaim(row.action_id, row.state)


def release_state(session: Session, order_pk: int) -> str | None:
    claim = claim_of(session, order_pk)
    return None if claim is None else claim.state


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
