"""The actions ledger: what the daemon set out to do, recorded before it does it.

Life of a row: ``pending`` (claimed, nothing sent) → ``sent`` (the request is
leaving) → ``succeeded`` | ``failed`` | ``unknown`` (sent, no answer: settle by
reading the exchange back, never by blindly retrying). ``skipped`` records a
decision not to act (a guard failed, shadow mode), ``dry_run`` an action
decided but not performed. ``awaiting`` is a release every other guard allowed,
waiting for an operator (an approval, a hold lifted, the account resumed): the
daemon's retry pass decides it again when the operators' word changes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import ActionRow
from p2pilot.store.portable import insert_new


class ActionState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"
    AWAITING = "awaiting"

    @property
    def is_open(self) -> bool:
        """Still needs settling against the exchange (after a crash, at startup)."""
        return self in OPEN_STATES


OPEN_STATES = frozenset({ActionState.PENDING, ActionState.SENT, ActionState.UNKNOWN})


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One ledger row."""

    id: int
    key: str
    account_id: int
    event_id: int | None
    order_pk: int | None
    rule: str
    kind: str
    state: ActionState
    attempts: int
    detail: dict[str, Any]
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: ActionRow) -> ActionRecord:
        return cls(
            **same_named(
                row,
                cls,
                order_pk=row.order_id,
                state=ActionState(row.state),
                detail=dict(row.detail),
            )
        )

    def to_json(self) -> dict[str, Any]:
        return same_named(
            self,
            ActionRecord,
            omit=("account_id", "event_id", "order_pk"),
            state=str(self.state),
            created_at=self.created_at.isoformat(),
            updated_at=self.updated_at.isoformat(),
        )


def claim(
    session: Session,
    *,
    key: str,
    account_id: int,
    event_id: int | None,
    order_pk: int | None,
    rule: str,
    kind: str,
    at: datetime,
    detail: dict[str, Any] | None = None,
    state: ActionState = ActionState.PENDING,
) -> ActionRecord | None:
    """Insert the row for ``key``; None when it already exists (the action was claimed before)."""
    new_id = insert_new(
        session,
        ActionRow,
        key=key,
        account_id=account_id,
        event_id=event_id,
        order_id=order_pk,
        rule=rule,
        kind=kind,
        state=str(state),
        attempts=0,
        detail=detail or {},
        error=None,
        created_at=at,
        updated_at=at,
    )
    if new_id is None:
        return None
    return get(session, key)


def get(session: Session, key: str) -> ActionRecord | None:
    row = session.scalars(select(ActionRow).where(ActionRow.key == key)).one_or_none()
    return ActionRecord.from_row(row) if row is not None else None


def transition(
    session: Session,
    action_id: int,
    state: ActionState,
    *,
    at: datetime,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
    count_attempt: bool = False,
) -> None:
    """Move a row to ``state``; ``detail`` is merged into what is stored."""
    row = session.get(ActionRow, action_id)
    if row is None:
        raise LookupError(f"no action {action_id}")
    row.state = str(state)
    row.updated_at = at
    if error is not None:
        row.error = error[:2000]
    if detail:
        row.detail = {**row.detail, **detail}
    if count_attempt:
        row.attempts += 1
    session.flush()


def attempts(session: Session, action_id: int) -> int:
    """How many times this action was sent so far."""
    row = session.get(ActionRow, action_id)
    if row is None:
        raise LookupError(f"no action {action_id}")
    return row.attempts


def open_actions(
    session: Session,
    account_id: int | None = None,
    *,
    states: frozenset[ActionState] = OPEN_STATES,
    updated_before: datetime | None = None,
) -> list[ActionRecord]:
    """Rows still pending, sent or unknown (or only ``states``), oldest first."""
    statement = select(ActionRow).where(ActionRow.state.in_([str(s) for s in states]))
    if account_id is not None:
        statement = statement.where(ActionRow.account_id == account_id)
    if updated_before is not None:
        statement = statement.where(ActionRow.updated_at < updated_before)
    rows = session.scalars(statement.order_by(ActionRow.id))
    return [ActionRecord.from_row(row) for row in rows]


def awaiting_for_order(session: Session, order_pk: int) -> list[ActionRecord]:
    """The order's release rows waiting for an operator, oldest first."""
    rows = session.scalars(
        select(ActionRow)
        .where(ActionRow.order_id == order_pk, ActionRow.state == str(ActionState.AWAITING))
        .order_by(ActionRow.id)
    )
    return [ActionRecord.from_row(row) for row in rows]


def for_order(session: Session, order_pk: int) -> list[ActionRecord]:
    rows = session.scalars(
        select(ActionRow).where(ActionRow.order_id == order_pk).order_by(ActionRow.id)
    )
    return [ActionRecord.from_row(row) for row in rows]
