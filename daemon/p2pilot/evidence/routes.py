"""Every endpoint of the evidence listener (``[evidence] listen``), declared in one place.

To add an endpoint: write its handler (raise ``Refused`` for a client's mistake,
read the body with ``read_body``; see ``payment_hook.py``) and add one
``Route(PATH, endpoint(handler), methods=["POST"])`` below. The server gives
every route the same limits: request deadline, connection cap, body size.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from p2pilot.evidence import notification_hook, payment_hook
from p2pilot.evidence.http import endpoint
from p2pilot.evidence.notification_hook import NotificationHook
from p2pilot.evidence.payment_hook import PaymentHook


def evidence_routes(
    *, payments: PaymentHook | None, notices: NotificationHook | None = None
) -> list[BaseRoute]:
    """The routes the evidence listener serves (a hook that is not configured is absent)."""
    routes: list[BaseRoute] = []
    if payments is not None:
        routes.append(Route(payment_hook.PATH, endpoint(payments), methods=["POST"]))
    if notices is not None:
        routes.append(Route(notification_hook.PATH, endpoint(notices), methods=["POST"]))
    return routes
