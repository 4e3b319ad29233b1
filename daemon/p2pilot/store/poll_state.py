"""Per account and job: when it last succeeded, how it last failed, where it got to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2pilot.store.columns import same_named
from p2pilot.store.models import AccountRow, PollStateRow
from p2pilot.store.portable import insert_or_ignore

MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class PollStateRecord:
    """One job's state on one account."""

    account_id: int
    account: str
    job: str
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    last_sweep_at: datetime | None
    cursor: str | None
    updated_at: datetime


def _upsert(session: Session, account_id: int, job: str, at: datetime, **values: Any) -> None:
    # Create the row if missing (ON CONFLICT DO NOTHING is race-free on both
    # backends), then update it with expressions evaluated by the database.
    session.execute(
        insert_or_ignore(session, PollStateRow).values(
            account_id=account_id, job=job, consecutive_failures=0, updated_at=at
        )
    )
    session.execute(
        update(PollStateRow)
        .where(PollStateRow.account_id == account_id, PollStateRow.job == job)
        .values(updated_at=at, **values)
        .execution_options(synchronize_session=False)
    )


def record_success(session: Session, account_id: int, job: str, *, at: datetime) -> None:
    """A tick succeeded: stamp it and reset the failure streak."""
    _upsert(session, account_id, job, at, last_success_at=at, consecutive_failures=0)


def record_failure(
    session: Session, account_id: int, job: str, *, at: datetime, error: str
) -> None:
    """A tick failed: stamp it, keep the (truncated) error text, extend the streak."""
    if len(error) > MAX_ERROR_LENGTH:
        error = error[: MAX_ERROR_LENGTH - 1] + "…"
    _upsert(
        session,
        account_id,
        job,
        at,
        last_error_at=at,
        last_error=error,
        consecutive_failures=PollStateRow.consecutive_failures + 1,
    )


def set_sweep(session: Session, account_id: int, job: str, at: datetime) -> None:
    """Remember when the job's last full sweep started."""
    _upsert(session, account_id, job, at, last_sweep_at=at)


def set_cursor(
    session: Session, account_id: int, job: str, cursor: str | None, *, at: datetime
) -> None:
    """Remember where an incremental job got to (opaque text)."""
    _upsert(session, account_id, job, at, cursor=cursor)


def _record(row: PollStateRow, account: str) -> PollStateRecord:
    return PollStateRecord(**same_named(row, PollStateRecord, account=account))


def _select() -> Any:
    # populate_existing: the upserts are Core UPDATEs that bypass the identity map.
    return (
        select(PollStateRow, AccountRow.name)
        .join(AccountRow, AccountRow.id == PollStateRow.account_id)
        .execution_options(populate_existing=True)
    )


def get_state(session: Session, account_id: int, job: str) -> PollStateRecord | None:
    """The job's state on the account, or None if it never ran."""
    found = session.execute(
        _select().where(PollStateRow.account_id == account_id, PollStateRow.job == job)
    ).one_or_none()
    if found is None:
        return None
    return _record(found[0], found[1])


def all_states(session: Session) -> list[PollStateRecord]:
    """Every job on every account, ordered by account name then job."""
    rows = session.execute(_select().order_by(AccountRow.name, PollStateRow.job))
    return [_record(row, name) for row, name in rows]
