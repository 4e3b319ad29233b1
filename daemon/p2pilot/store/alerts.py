"""``daemon.alert``: what an operator must hear about, as an outbox event rules can act on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from p2pilot.logging import get_logger
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event

log = get_logger(__name__)

DAEMON_ALERT = "daemon.alert"


def raise_alert(
    store: Store,
    *,
    account_id: int,
    account: str,
    reason: str,
    message: str,
    at: datetime,
    **detail: Any,
) -> None:
    """Log the alert and store it as a ``daemon.alert`` event (notify rules pick it up)."""
    log.error(DAEMON_ALERT, account=account, reason=reason, message=message, **detail)
    with store.transaction() as session:
        append_event(
            session,
            account_id=account_id,
            order_pk=None,
            type=DAEMON_ALERT,
            payload={"account": account, "order_id": None, "reason": reason, "message": message}
            | detail,
            at=at,
        )
