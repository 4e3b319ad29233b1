"""Operators' words on releases: approvals and holds of one order, pauses of an account.

Written by the operator commands (:mod:`p2pilot.operator`), read by the daemon's
release decision and again under its claim lock: the daemon acts on them, the
commands never call the exchange's ``release`` themselves.

An order's *standing* is its live rows: approvals and holds not revoked. A hold
revokes the approvals before it (a fresh approval is needed after one); lifting
a hold revokes the hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import AccountPauseRow, ReleaseApprovalRow
from p2pilot.store.portable import affected, insert_or_ignore

APPROVE = "approve"
HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Decision:
    """One live approval or hold."""

    id: int
    decision: str  # approve | hold
    operator: str
    source: str
    reason: str | None
    amount: Decimal
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return same_named(
            self, Decision, omit=("id",), amount=str(self.amount), at=self.at.isoformat()
        )


@dataclass(frozen=True, slots=True)
class Standing:
    """What operators said about one order's release, as it stands."""

    approvals: tuple[Decision, ...] = ()
    hold: Decision | None = None  # the latest live hold

    @property
    def approvers(self) -> tuple[str, ...]:
        """The distinct operator names that approved, in order."""
        return tuple(dict.fromkeys(a.operator for a in self.approvals))

    def to_json(self) -> dict[str, Any]:
        return {
            "approvals": [a.to_json() for a in self.approvals],
            "hold": self.hold.to_json() if self.hold is not None else None,
        }


@dataclass(frozen=True, slots=True)
class Pause:
    """An account paused by an operator."""

    account_id: int
    operator: str
    source: str
    reason: str | None
    paused_at: datetime

    def describe(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"paused by {self.operator} ({self.source}) at {self.paused_at.isoformat()}{why}"

    def to_json(self) -> dict[str, Any]:
        return same_named(self, Pause, omit=("account_id",), paused_at=self.paused_at.isoformat())


def _decision(row: ReleaseApprovalRow) -> Decision:
    return Decision(row.id, row.decision, row.operator, row.source, row.reason, row.amount, row.at)


def standing(session: Session, order_pk: int) -> Standing:
    """The live approvals and hold of one order (revoked rows left out)."""
    rows = session.scalars(
        select(ReleaseApprovalRow)
        .where(ReleaseApprovalRow.order_id == order_pk, ReleaseApprovalRow.revoked_at.is_(None))
        .order_by(ReleaseApprovalRow.id)
    ).all()
    approvals = tuple(_decision(r) for r in rows if r.decision == APPROVE)
    holds = [_decision(r) for r in rows if r.decision == HOLD]
    return Standing(approvals, holds[-1] if holds else None)


def add_decision(
    session: Session,
    *,
    account_id: int,
    order_pk: int,
    decision: str,
    operator: str,
    source: str,
    amount: Decimal,
    at: datetime,
    reason: str | None = None,
) -> int:
    """Record an approval or a hold; a hold revokes the approvals before it."""
    if decision not in (APPROVE, HOLD):
        raise ValueError(f"unknown decision {decision!r}")
    if decision == HOLD:
        _revoke(session, order_pk, APPROVE, at)
    row = ReleaseApprovalRow(
        account_id=account_id,
        order_id=order_pk,
        decision=decision,
        operator=operator,
        source=source,
        reason=reason,
        amount=amount,
        at=at,
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return row.id


def lift_holds(session: Session, order_pk: int, *, at: datetime) -> int:
    """Revoke the order's live holds; how many there were."""
    return _revoke(session, order_pk, HOLD, at)


def _revoke(session: Session, order_pk: int, decision: str, at: datetime) -> int:
    result = session.execute(
        update(ReleaseApprovalRow)
        .where(
            ReleaseApprovalRow.order_id == order_pk,
            ReleaseApprovalRow.decision == decision,
            ReleaseApprovalRow.revoked_at.is_(None),
        )
        .values(revoked_at=at)
        .execution_options(synchronize_session=False)
    )
    return affected(result)


def pause(
    session: Session,
    *,
    account_id: int,
    operator: str,
    source: str,
    reason: str | None,
    at: datetime,
) -> bool:
    """Pause the account's releases; False when it was paused already."""
    statement = (
        insert_or_ignore(session, AccountPauseRow)
        .values(
            account_id=account_id, operator=operator, source=source, reason=reason, paused_at=at
        )
        .returning(AccountPauseRow.account_id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def resume(session: Session, account_id: int) -> bool:
    """Lift the account's pause; False when it was not paused."""
    result = session.execute(
        delete(AccountPauseRow)
        .where(AccountPauseRow.account_id == account_id)
        .execution_options(synchronize_session=False)
    )
    return affected(result) > 0


def pause_of(session: Session, account_id: int) -> Pause | None:
    """The account's pause, if it is paused."""
    row = session.get(AccountPauseRow, account_id, populate_existing=True)
    return _pause(row) if row is not None else None


def pauses(session: Session) -> dict[int, Pause]:
    """Every paused account: account id → its pause."""
    return {row.account_id: _pause(row) for row in session.scalars(select(AccountPauseRow))}


def _pause(row: AccountPauseRow) -> Pause:
    return Pause(row.account_id, row.operator, row.source, row.reason, row.paused_at)


@dataclass(frozen=True, slots=True)
class OperatorWord:
    """What the release guards read of the operators: each thing described, or None."""

    paused: str | None
    hold: str | None
    approvers: tuple[str, ...]  # approved the amount the order has now


def operator_word(
    session: Session, *, account_id: int, order_pk: int, amount: Decimal
) -> OperatorWord:
    """The account's pause, the order's hold and its approvers, as stored now.

    An approval of another amount does not count: the order changed since.
    """
    paused = pause_of(session, account_id)
    standing_now = standing(session, order_pk)
    hold = standing_now.hold
    return OperatorWord(
        paused=f"account {paused.describe()}" if paused is not None else None,
        hold=(
            f"held by {hold.operator} ({hold.source}): {hold.reason or 'no reason given'}"
            if hold is not None
            else None
        ),
        approvers=tuple(
            dict.fromkeys(a.operator for a in standing_now.approvals if a.amount == amount)
        ),
    )
