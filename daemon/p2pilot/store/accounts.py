"""Configured accounts: the config name mapped to a row id, plus the exchange identity."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from p2pilot.store.models import AccountRow
from p2pilot.store.portable import insert_or_ignore


def ensure_account(session: Session, name: str) -> int:
    """The id of the account called ``name``, created if missing."""
    found = session.scalar(select(AccountRow.id).where(AccountRow.name == name))
    if found is not None:
        return found
    # Two daemons starting at once must not fail on the unique name.
    session.execute(
        insert_or_ignore(session, AccountRow).values(name=name, created_at=datetime.now(UTC))
    )
    return session.scalars(select(AccountRow.id).where(AccountRow.name == name)).one()


def watched_since(session: Session, account_id: int) -> datetime:
    """When p2pilot first ran on the account: orders opened before then are history."""
    return session.scalars(select(AccountRow.created_at).where(AccountRow.id == account_id)).one()


def set_identity(session: Session, account_id: int, *, user_id: str, nickname: str) -> None:
    """Record the exchange's user id and nickname for the account."""
    session.execute(
        update(AccountRow)
        .where(AccountRow.id == account_id)
        .values(user_id=user_id, nickname=nickname)
    )


def account_ids(session: Session) -> dict[str, int]:
    """Every stored account: name → id."""
    rows = session.execute(select(AccountRow.name, AccountRow.id).order_by(AccountRow.id))
    return {name: account_id for name, account_id in rows}


def account_name(session: Session, account_id: int) -> str:
    """The config name of an account id."""
    return session.scalars(select(AccountRow.name).where(AccountRow.id == account_id)).one()


def chat_api(session: Session, account_id: int) -> str | None:
    """The chat API this account was switched to for good, if any."""
    return session.scalars(select(AccountRow.chat_api).where(AccountRow.id == account_id)).one()


def set_chat_api(session: Session, account_id: int, api: str) -> None:
    """Remember the chat API this account must use from now on."""
    session.execute(update(AccountRow).where(AccountRow.id == account_id).values(chat_api=api))
