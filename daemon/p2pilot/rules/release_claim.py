"""The release claim, under one lock with every check that other releases can change.

Two releases racing (two events, two daemons) must not both pass a daily limit
that only one fits under. So the totals, the blacklist, the evidence binding and
(on PostgreSQL) the account's lease are read again, and the release claimed, in
one write transaction that holds the account's lock: a row lock on the account
on PostgreSQL, the database's write lock on SQLite (every write transaction
begins IMMEDIATE). A second claimant waits for the first to commit and then
sees its release in the totals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from p2pilot.rules.blacklist import Buyer, matching_entry
from p2pilot.rules.guards import ReleaseLimits, limit_guards, operator_guards
from p2pilot.rules.verdict import EvidenceSummary, GuardResult, ReleaseInputs
from p2pilot.store import approvals, ledger, releases
from p2pilot.store import blacklist as stored_blacklist
from p2pilot.store import payments as stored_payments
from p2pilot.store.blacklist import BlacklistEntry
from p2pilot.store.engine import Store
from p2pilot.store.ledger import ActionState
from p2pilot.store.models import AccountRow

_LEASE_HELD = text(
    "SELECT 1 FROM account_leases"
    " WHERE account_id = :account_id AND holder = :holder AND expires_at > now()"
)


def start_of_utc_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class OrderToRelease:
    """What the claim needs of the order."""

    pk: int
    amount: Decimal
    currency: str
    counterparty_user_id: str
    counterparty_nickname: str
    kyc_name: str


@dataclass(frozen=True, slots=True)
class ClaimResult:
    claimed: bool  # False: a re-check failed, or another claim holds the order
    guards: list[GuardResult]  # the table as decided under the lock


def lock_account(session: Session, account_id: int) -> None:
    """Serialise releases of one account until this transaction ends."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(AccountRow.id).where(AccountRow.id == account_id).with_for_update()
        ).one()
    # SQLite: this write transaction began IMMEDIATE, so it holds the write lock already.


def claim(
    store: Store,
    *,
    account_id: int,
    lease_holder: str | None,
    order: OrderToRelease,
    action_id: int,
    limits: ReleaseLimits,
    inputs: ReleaseInputs,
    guards: list[GuardResult],
    at: datetime,
) -> ClaimResult:
    """Re-check under the account's lock and claim the order's one release if all hold.

    The claim and the action row's ``sent`` commit together, before any call.
    """
    with store.transaction() as session:
        lock_account(session, account_id)
        rechecked = _recheck(session, account_id, order, limits, inputs, at)
        if lease_holder is not None:
            rechecked.append(_lease_held(session, account_id, lease_holder))
        table = _merge(guards, rechecked)
        if not all(g.ok for g in table):
            return ClaimResult(False, table)
        claimed = releases.claim_release(
            session,
            account_id=account_id,
            order_pk=order.pk,
            action_id=action_id,
            amount=order.amount,
            currency=order.currency,
            counterparty_user_id=order.counterparty_user_id or None,
            at=at,
        )
        if claimed:
            ledger.transition(
                session,
                action_id,
                ActionState.SENT,
                at=at,
                detail={"guards": [g.to_json() for g in table], "decision": "release"},
                count_attempt=True,
            )
        return ClaimResult(claimed, table)


def _recheck(
    session: Session,
    account_id: int,
    order: OrderToRelease,
    limits: ReleaseLimits,
    inputs: ReleaseInputs,
    at: datetime,
) -> list[GuardResult]:
    """The guards other releases can change, read again inside the claim's transaction."""
    since = start_of_utc_day(at)
    evidence = stored_payments.for_order(session, order.pk)
    entry = blacklist_entry(session, order, inputs.name_threshold)
    fresh = dataclasses.replace(
        inputs,
        released_today=releases.released_total(
            session, account_id=account_id, currency=order.currency, since=since
        ),
        released_today_counterparty=releases.released_total(
            session,
            account_id=account_id,
            currency=order.currency,
            since=since,
            counterparty_user_id=order.counterparty_user_id,
        ),
        blacklisted=entry.describe() if entry is not None else None,
    )
    rechecked = limit_guards(limits, fresh)
    rechecked.append(
        GuardResult(
            "not_blacklisted",
            entry is None,
            "not on the desk's blacklist"
            if entry is None
            else f"on the blacklist: {entry.describe()}",
        )
    )
    rechecked.append(_same_evidence(inputs.evidence, evidence))
    # An operator may pause the account or hold the order up to this very moment.
    word = approvals.operator_word(
        session, account_id=account_id, order_pk=order.pk, amount=order.amount
    )
    rechecked += operator_guards(
        limits,
        dataclasses.replace(fresh, paused=word.paused, hold=word.hold, approvers=word.approvers),
    )
    return rechecked


def blacklist_entry(
    session: Session, order: OrderToRelease, name_threshold: float
) -> BlacklistEntry | None:
    """The entry naming the order's buyer: uid, nickname, KYC name or the evidence's payer."""
    evidence = stored_payments.for_order(session, order.pk)
    return matching_entry(
        stored_blacklist.entries(session),
        Buyer(
            order.counterparty_user_id,
            order.counterparty_nickname,
            (order.kyc_name, evidence.payer_name if evidence else ""),
        ),
        name_threshold,
    )


def _lease_held(session: Session, account_id: int, lease_holder: str) -> GuardResult:
    held = session.execute(_LEASE_HELD, {"account_id": account_id, "holder": lease_holder}).first()
    return GuardResult(
        "lease_held",
        held is not None,
        "this daemon holds the account's lease"
        if held is not None
        else "the account's lease is not ours (another daemon acts for it)",
    )


def _same_evidence(
    before: EvidenceSummary | None, now: stored_payments.PaymentRecord | None
) -> GuardResult:
    ok = before is not None and now is not None and now.reference == before.reference
    return GuardResult(
        "payment_evidence",
        ok,
        f"evidence {now.reference}: {now.amount} {now.currency} from {now.payer_name!r}"
        if ok and now is not None
        else "the evidence bound to this order changed while deciding",
    )


def _merge(guards: list[GuardResult], rechecked: list[GuardResult]) -> list[GuardResult]:
    """The table with the re-checked rows in place of the earlier ones (new rows last)."""
    fresh = {g.name: g for g in rechecked}
    merged = [fresh.pop(g.name, g) for g in guards]
    return merged + list(fresh.values())
