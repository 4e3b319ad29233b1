"""The approvals queue: releases waiting for an operator, as every front end lists it.

One query for the console's ``/approvals``, Telegram's ``/pending`` and the CLI's
``orders pending``, so an operator sees the same queue wherever they look.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.store import approvals, order_views
from p2pilot.store.ledger import ActionState
from p2pilot.store.models import AccountRow, ActionRow, OrderRow


def approval_queue(session: Session, now: datetime) -> list[dict[str, Any]]:
    """Releases waiting for an operator, oldest first, with the approvals and hold so far.

    Each is the order's ``orders list --json`` document plus ``age_seconds`` (the
    order's), ``waiting_since`` (ISO 8601), ``why`` (the guard that asks for an
    operator) and ``standing`` (approvals and hold, as ``orders show`` has them).
    """
    statement = (
        select(ActionRow, OrderRow, AccountRow.name)
        .join(OrderRow, OrderRow.id == ActionRow.order_id)
        .join(AccountRow, AccountRow.id == OrderRow.account_id)
        .where(ActionRow.state == str(ActionState.AWAITING), ActionRow.kind == "release")
        .order_by(ActionRow.created_at, ActionRow.id)
    )
    queue: dict[int, dict[str, Any]] = {}
    for action, row, account in session.execute(statement):
        if row.id in queue:
            continue  # one row per order waits; never list an order twice
        document = order_views.OrderView.from_row(row, account).to_json()
        document["age_seconds"] = round((now - row.created_at).total_seconds(), 1)
        document["waiting_since"] = action.created_at.isoformat()
        document["why"] = action.error or ""
        document["standing"] = approvals.standing(session, row.id).to_json()
        queue[row.id] = document
    return list(queue.values())


def operators_word(standing: Mapping[str, Any]) -> str | None:
    """What operators said of a queued release (its ``standing``), or None: nobody yet.

    ``held by NAME: REASON`` when it is held, else ``approved by NAME, ...``.
    """
    hold = standing.get("hold")
    if hold:
        return f"held by {hold.get('operator')}: {hold.get('reason')}"
    approvers = [str(a.get("operator")) for a in standing.get("approvals") or []]
    return f"approved by {', '.join(approvers)}" if approvers else None
