"""The desk's blacklist: who is never released to automatically, and who matches it.

Operator actions (add, list, remove) are plain functions over the store, so any
front end (the CLI today, the console and Telegram later) calls the same ones.
Entries live in the database: a release checks them at the moment it decides,
so an entry added or removed takes effect at once, without a reload.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from p2pilot.evidence.matching import MAX_NAME_CHARS, name_similarity, normalize_name
from p2pilot.store import blacklist as stored
from p2pilot.store.blacklist import KINDS, BlacklistEntry
from p2pilot.store.engine import Store


class BlacklistError(ValueError):
    """The entry cannot be added or removed as asked."""


@dataclass(frozen=True, slots=True)
class Buyer:
    """Who is about to be paid: what a blacklist entry can name."""

    user_id: str
    nickname: str
    names: tuple[str, ...]  # the KYC name, and the payer's name on the evidence


def add_entry(
    store: Store, *, kind: str, value: str, reason: str | None, now: datetime
) -> BlacklistEntry:
    """List a buyer by uid, nickname or KYC name; refused if already listed or empty."""
    with store.transaction() as session:
        return add_entry_in(session, kind=kind, value=value, reason=reason, now=now)


def add_entry_in(
    session: Session, *, kind: str, value: str, reason: str | None, now: datetime
) -> BlacklistEntry:
    """:func:`add_entry` inside the caller's transaction; roll back when it raises."""
    value = value.strip()
    if kind not in KINDS:
        raise BlacklistError(f"kind must be one of {', '.join(KINDS)}")
    if not value or len(value) > MAX_NAME_CHARS:
        raise BlacklistError(f"the {kind} must be 1 to {MAX_NAME_CHARS} characters")
    if kind == "name" and not any(len(w) >= 2 and "*" not in w for w in normalize_name(value)):
        raise BlacklistError("a name needs at least one full word of two or more letters")
    new_id = stored.add(session, kind=kind, value=value, reason=reason, at=now)
    if new_id is None:
        raise BlacklistError(f"{kind} {value!r} is already on the blacklist")
    return next(e for e in stored.entries(session) if e.id == new_id)


def remove_entry(store: Store, entry_id: int) -> None:
    """Take an entry off the blacklist."""
    with store.transaction() as session:
        remove_entry_in(session, entry_id)


def remove_entry_in(session: Session, entry_id: int) -> BlacklistEntry:
    """:func:`remove_entry` inside the caller's transaction: the entry removed."""
    entry = next((e for e in stored.entries(session) if e.id == entry_id), None)
    if entry is None or not stored.remove(session, entry_id):
        raise BlacklistError(f"no blacklist entry {entry_id}")
    return entry


def list_entries(store: Store) -> list[BlacklistEntry]:
    """Every entry, oldest first."""
    with store.transaction(read_only=True) as session:
        return stored.entries(session)


def matching_entry(
    entries: Iterable[BlacklistEntry], buyer: Buyer, name_threshold: float
) -> BlacklistEntry | None:
    """The first entry naming this buyer: same uid, same nickname, or a fitting name."""
    nickname = buyer.nickname.casefold()
    for entry in entries:
        if entry.kind == "uid" and buyer.user_id and entry.value == buyer.user_id:
            return entry
        if entry.kind == "nickname" and nickname and entry.value.casefold() == nickname:
            return entry
        if entry.kind == "name" and any(
            _names_fit(entry.value, name, name_threshold) for name in buyer.names if name
        ):
            return entry
    return None


def _names_fit(listed: str, name: str, threshold: float) -> bool:
    # Either way round: a listed full name against Bybit's "OLEG S", or a listed
    # "OLEG S" against a payer's full name. A blacklist errs on the side of holding.
    return max(name_similarity(listed, name), name_similarity(name, listed)) >= threshold
