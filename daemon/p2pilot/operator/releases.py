"""Approve and hold one order's release, and read where that release stands.

The commands record the operator's word (:mod:`p2pilot.store.approvals`) and
nothing else: the daemon holding the account's lease sees it on its next retry
pass, checks every guard again and releases through its claim, exactly once
(:mod:`p2pilot.rules.actions.release`).

A hold stops the order's release until it is lifted by an approval given with
``lift_hold`` (a plain approval of a held order is refused); a hold also voids
the approvals given before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from p2pilot.operator.base import Done, Operator, Refused, find_order
from p2pilot.records import OrderStatus, Side
from p2pilot.rules.approvals import RELEASE_HELD
from p2pilot.rules.guards import ReleaseLimits
from p2pilot.rules.release_claim import lock_account
from p2pilot.store import approvals, ledger, releases
from p2pilot.store.events import append_event
from p2pilot.store.ledger import ActionState
from p2pilot.store.models import OrderRow
from p2pilot.store.orders import FINAL_CODES, event_payload

MAX_REASON_CHARS = 500


@dataclass(frozen=True, slots=True)
class ReleaseStatus:
    """Where one order's release stands, for a command that waits on the daemon.

    ``state``: ``released``, ``in_flight`` (sent, outcome not known yet),
    ``failed``, ``awaiting`` (waiting for an operator), ``refused`` (a guard
    refused it), ``deciding`` (the daemon will decide again), ``none`` (no release
    decided yet) or ``unknown_order``.
    """

    state: str
    message: str
    details: dict[str, Any]

    @property
    def settled(self) -> bool:
        """Whether the daemon has acted on the latest word: nothing more to wait for."""
        return self.state in ("released", "failed", "refused", "unknown_order")


def _open_sell_order(session: Session, order_id: str, account: str | None) -> tuple[OrderRow, str]:
    """The order, refused unless a release could still happen to it."""
    order, name = find_order(session, order_id, account)
    if order.side != int(Side.SELL):
        raise Refused(f"order {order_id} is a buy order: we pay, nothing to release")
    if order.status in FINAL_CODES:
        raise Refused(f"order {OrderStatus(order.status).label}")
    return order, name


def _decide(
    session: Session,
    order: OrderRow,
    operator: Operator,
    decision: str,
    *,
    at: datetime,
    reason: str | None = None,
) -> None:
    """Record the operator's approval or hold of the order's release, at its amount now."""
    approvals.add_decision(
        session,
        account_id=order.account_id,
        order_pk=order.id,
        decision=decision,
        operator=operator.name,
        source=operator.source,
        amount=order.amount,
        at=at,
        reason=reason,
    )


def approve(
    session: Session,
    operator: Operator,
    order_id: str,
    *,
    limits: ReleaseLimits,
    at: datetime,
    account: str | None = None,
    lift_hold: bool = False,
) -> Done:
    """Record an approval of the order's waiting release (see :meth:`OperatorCommands.approve`)."""
    order, name = find_order(session, order_id, account)
    claimed = releases.release_state(session, order.id)
    if claimed == "succeeded":
        return Done("already released", {"state": "released"}, name)
    order, name = _open_sell_order(session, order_id, account)
    if claimed in ("sent", "unknown"):
        raise Refused("the release is already under way", state="in_flight")
    paused = approvals.pause_of(session, order.account_id)
    if paused is not None:
        raise Refused(f"account {name} {paused.describe()}", state="paused")
    standing = approvals.standing(session, order.id)
    if standing.hold is not None and not lift_hold:
        hold = standing.hold
        raise Refused(
            f"held by {hold.operator}: {hold.reason or 'no reason given'}"
            " (approve with --lift-hold to lift it)",
            state="held",
        )
    waiting = ledger.awaiting_for_order(session, order.id)
    if not waiting:
        raise Refused(f"not awaiting approval ({_latest_decision(session, order)})")
    began = waiting[0].detail.get("amount")
    if began is not None and began != str(order.amount):
        raise Refused(
            f"order changed: amount {order.amount} {order.currency}, {began} when it began waiting",
            state="changed",
        )
    if standing.hold is not None:
        approvals.lift_holds(session, order.id, at=at)
    needed = max(1, limits.approvals_needed(order.amount, order.currency))
    approvers = [a.operator for a in standing.approvals if a.amount == order.amount]
    if operator.name not in approvers:
        _decide(session, order, operator, approvals.APPROVE, at=at)
        approvers.append(operator.name)
    approvers = list(dict.fromkeys(approvers))
    details = {"state": "approved", "approvers": approvers, "needed": needed}
    if len(approvers) >= needed:
        return Done("approved, waiting for the daemon", details, name)
    why = limits.approval.why(order.amount, order.currency)
    return Done(
        f"approved ({len(approvers)} of {needed}), waiting for another operator: {why}",
        details | {"state": "approved_partly"},
        name,
    )


def hold(
    session: Session,
    operator: Operator,
    order_id: str,
    reason: str,
    *,
    at: datetime,
    account: str | None = None,
) -> Done:
    """Hold the order's release (see :meth:`OperatorCommands.hold`)."""
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON_CHARS:
        raise Refused(f"a hold needs a reason of 1 to {MAX_REASON_CHARS} characters")
    order, name = find_order(session, order_id, account)
    # Under the lock the release claim takes (PostgreSQL): a claim being made now is
    # seen as under way, or sees this hold, never neither.
    lock_account(session, order.account_id)
    claimed = releases.release_state(session, order.id)
    if claimed == "succeeded":
        raise Refused("already released", state="released")
    order, name = _open_sell_order(session, order_id, account)
    if claimed in ("sent", "unknown"):
        raise Refused("the release is already under way", state="in_flight")
    _decide(session, order, operator, approvals.HOLD, at=at, reason=reason)
    append_event(
        session,
        account_id=order.account_id,
        order_pk=order.id,
        type=RELEASE_HELD,
        payload=event_payload(name, order)
        | {"operator": operator.name, "source": operator.source, "reason": reason},
        at=at,
    )
    return Done("held", {"state": "held", "reason": reason}, name)


def release_status(session: Session, order_id: str, account: str | None = None) -> ReleaseStatus:
    """Where the order's release stands now (read only)."""
    try:
        order, _name = find_order(session, order_id, account)
    except Refused as refused:
        return ReleaseStatus("unknown_order", refused.reason, {})
    standing = approvals.standing(session, order.id).to_json()
    claimed = releases.release_state(session, order.id)
    if claimed == "succeeded":
        return ReleaseStatus("released", "released", standing)
    if claimed in ("sent", "unknown"):
        return ReleaseStatus("in_flight", "release sent, outcome not known yet", standing)
    rows = [r for r in ledger.for_order(session, order.id) if r.kind == "release"]
    if claimed == "failed" and not any(r.state.is_open for r in rows):
        return ReleaseStatus("failed", "the exchange refused the release", standing)
    if not rows:
        return ReleaseStatus("none", "no release decided yet", standing)
    latest = max(rows, key=lambda r: (r.updated_at, r.id))
    waiting = [r for r in rows if r.state == ActionState.AWAITING]
    if waiting:
        return ReleaseStatus("awaiting", f"waiting: {waiting[0].error or ''}", standing)
    if latest.state in (ActionState.SKIPPED, ActionState.FAILED):
        return ReleaseStatus("refused", latest.error or "refused", standing)
    return ReleaseStatus("deciding", f"the daemon decides ({latest.state})", standing)


def _latest_decision(session: Session, order: OrderRow) -> str:
    rows = [r for r in ledger.for_order(session, order.id) if r.kind == "release"]
    if not rows:
        return "no release decided yet"
    latest = max(rows, key=lambda r: (r.updated_at, r.id))
    return latest.error or f"release {latest.state}"


def operators_view(
    session: Session, order_id: str, account: str | None = None
) -> dict[str, Any] | None:
    """The operators' word on one order, for ``orders show`` and the console.

    ``{"paused": {...} | None, "hold": {...} | None, "approvals": [...]}``; None
    when the order is not stored.
    """
    try:
        order, _name = find_order(session, order_id, account)
    except Refused:
        return None
    paused = approvals.pause_of(session, order.account_id)
    return approvals.standing(session, order.id).to_json() | {
        "paused": paused.to_json() if paused is not None else None
    }
