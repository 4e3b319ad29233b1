"""What the console shows, read from the store: the same documents the CLI's ``--json`` prints.

Each function takes a read-only session and returns plain JSON-able data; the
pages render it and the API returns it as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.config import Config
from p2pilot.health import jobs_health
from p2pilot.records import FINAL_STATUSES, OrderStatus, Side
from p2pilot.store import approvals, audit, blacklist, order_views, poll_state, rates
from p2pilot.store import orders as stored_orders
from p2pilot.store import payments as stored_payments
from p2pilot.store.ledger import ActionState
from p2pilot.store.models import AccountRow, ActionRow, AdRow, OrderRow, PaymentRow

OPEN_STATUSES = tuple(int(s) for s in OrderStatus if s not in FINAL_STATUSES)
# The desk lists this many open orders, oldest first; a desk with more has bigger problems.
DESK_ORDERS = 200


def desk(session: Session, config: Config, now: datetime) -> dict[str, Any]:
    """Per account health, open orders with what each waits for, the oldest paid order."""
    states = {(s.account, s.job): s for s in poll_state.all_states(session)}
    jobs = jobs_health(config, states, now)
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for job in jobs:
        by_account[job.account].append(job.to_json())
    ids = {row.name: row.id for row in session.scalars(select(AccountRow))}
    paused = approvals.pauses(session)
    accounts = []
    for account in config.accounts:
        if not account.enabled:
            continue
        pause = paused.get(ids.get(account.name, -1))
        accounts.append(
            {
                "name": account.name,
                "healthy": all(not j["stale"] for j in by_account[account.name]),
                "jobs": by_account[account.name],
                "paused": pause.to_json() if pause is not None else None,
            }
        )
    oldest = stored_orders.oldest_awaiting_release(session)
    waiting = None
    if oldest is not None:
        waiting = {
            "order_id": oldest.order_id,
            "account": oldest.account,
            "paid_at": oldest.since.isoformat(),
            "age_seconds": round((now - oldest.since).total_seconds(), 1),
        }
    return {
        "accounts": accounts,
        "open_orders": open_orders(session, now),
        "oldest_awaiting_release": waiting,
    }


def open_orders(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Orders the exchange may still move, oldest first, with evidence and what they wait for."""
    statement = (
        select(OrderRow, AccountRow.name)
        .join(AccountRow, AccountRow.id == OrderRow.account_id)
        .where(stored_orders.of_any_account(), OrderRow.status.in_(OPEN_STATUSES))
        .order_by(OrderRow.created_at, OrderRow.id)
        .limit(DESK_ORDERS)
    )
    found = list(session.execute(statement))
    evidence = _evidence_by_order(session, [row.id for row, _ in found])
    awaiting = _awaiting_approval(session, [row.id for row, _ in found])
    documents = []
    for row, account in found:
        document = order_views.OrderView.from_row(row, account).to_json()
        paid = evidence.get(row.id)
        document["age_seconds"] = round((now - row.created_at).total_seconds(), 1)
        document["evidence"] = paid.to_json(row.exchange_id) if paid else None
        document["waiting_for"] = (
            "an operator's approval"
            if row.id in awaiting
            else waiting_for(row.status, row.side, paid is not None)
        )
        documents.append(document)
    return documents


def _evidence_by_order(
    session: Session, order_pks: list[int]
) -> dict[int, stored_payments.PaymentRecord]:
    if not order_pks:
        return {}
    rows = session.scalars(select(PaymentRow).where(PaymentRow.order_id.in_(order_pks)))
    return {
        row.order_id: stored_payments.PaymentRecord.from_row(row)
        for row in rows
        if row.order_id is not None
    }


def _awaiting_approval(session: Session, order_pks: list[int]) -> set[int]:
    if not order_pks:
        return set()
    return set(
        session.scalars(
            select(ActionRow.order_id).where(
                ActionRow.state == str(ActionState.AWAITING),
                ActionRow.kind == "release",
                ActionRow.order_id.in_(order_pks),
            )
        )
    )


def audit_rows(session: Session, *, limit: int) -> list[dict[str, Any]]:
    """``audit --json``: operator commands, newest first."""
    return [record.to_json() for record in audit.recent(session, limit=limit)]


def waiting_for(status: int, side: int, has_evidence: bool) -> str:
    """What an open order waits for, in the operator's words."""
    sell = side == int(Side.SELL)
    if status == OrderStatus.AWAITING_PAYMENT:
        return "the buyer's payment" if sell else "our payment to the seller"
    if status == OrderStatus.PAID:
        if not sell:
            return "the seller's release"
        return "release (evidence matched)" if has_evidence else "bank evidence of the payment"
    if status == OrderStatus.APPEAL:
        return "the appeal's outcome"
    return "the exchange"


def order(session: Session, order_id: str) -> dict[str, Any] | None:
    """``orders show --json`` for one order, or None when it is not stored.

    Held evidence is looked for only while the order is open: a finished order
    takes no more evidence, and on a long history the search would read every
    unmatched piece received since the order was made.
    """
    from p2pilot.evidence.waiting import held_for

    def held_while_open(session: Session, row: OrderRow) -> Sequence[stored_payments.PaymentRecord]:
        return held_for(session, row) if row.status in OPEN_STATUSES else ()

    detail = order_views.get_order(session, order_id, held_for=held_while_open)
    if detail is None:
        return None
    from p2pilot.operator.releases import release_status

    document = detail.to_json()
    status = release_status(session, detail.order.id, detail.order.account)
    document["release"] = {"state": status.state, "message": status.message, **status.details}
    return document


def orders(
    session: Session, *, status: int | None, account: str | None, limit: int
) -> list[dict[str, Any]]:
    """``orders list --json``: newest first."""
    return [
        view.to_json()
        for view in order_views.list_orders(session, status=status, account=account, limit=limit)
    ]


def payments(session: Session, *, unmatched_only: bool, limit: int) -> list[dict[str, Any]]:
    """Evidence, newest first; ``unmatched_only`` keeps what no order has taken."""
    if unmatched_only:
        return [p.to_json() for p in reversed(stored_payments.unmatched(session))][:limit]
    return [
        p.to_json(order_id) for p, order_id in stored_payments.all_payments(session, limit=limit)
    ]


def blacklist_entries(session: Session) -> list[dict[str, Any]]:
    """``blacklist list --json``."""
    return [entry.to_json() for entry in blacklist.entries(session)]


def market_rates(session: Session) -> list[dict[str, Any]]:
    """``rates --json``: the latest point of every watched market."""
    found = []
    for market in rates.markets(session):
        point = rates.latest(session, *market)
        if point is not None:
            found.append(point.to_json())
    return found


def stored_ads(session: Session) -> list[dict[str, Any]]:
    """The ads as the daemon last read them, per account."""
    from p2pilot.store.ads import ad_payload

    statement = (
        select(AdRow, AccountRow.name)
        .join(AccountRow, AccountRow.id == AdRow.account_id)
        .order_by(AccountRow.name, AdRow.ad_id)
    )
    return [ad_payload(account, row) for row, account in session.execute(statement)]
