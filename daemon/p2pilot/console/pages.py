"""The HTML pages. Each page's live part is a fragment htmx polls and swaps in place.

A request from htmx (``HX-Request``) gets only the fragment (``_NAME.html``);
a browser's first request gets the whole page (``NAME.html``) around it.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from p2pilot.console import views
from p2pilot.console.context import console_of, operator_of

# How often the live parts refresh, in seconds (htmx polling).
POLL_SECONDS = 2
AUDIT_ROWS = 200


def routes() -> list[BaseRoute]:
    """The page routes."""
    return [
        Route("/", desk),
        Route("/orders/{order_id}", order),
        Route("/payments", payments),
        Route("/blacklist", blacklist),
        Route("/market", market),
        Route("/approvals", approval_queue),
        Route("/audit", audit),
    ]


def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    """Page ``name`` (or its fragment for htmx), with what every page shows."""
    operator = operator_of(request)
    fragment = request.headers.get("hx-request") == "true"
    template = f"_{name}.html" if fragment else f"{name}.html"
    message = {key: request.query_params.get(key) for key in ("done", "error")}
    full = {
        "operator": operator,
        "csrf": operator.csrf or "",
        "poll": POLL_SECONDS,
        "message": message,
        **context,
    }
    response: Response = request.app.state.templates.TemplateResponse(
        request, template, full, status_code=status
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Vary"] = "HX-Request, Cookie"
    return response


def desk(request: Request) -> Response:
    """The desk: accounts, open orders, the oldest paid order."""
    console = console_of(request)
    now = console.clock()
    with console.reading() as session:
        document = views.desk(session, console.config, now)
    return render(request, "desk", {"desk": document, "now": now})


def order(request: Request) -> Response:
    """One order: summary, release decisions, evidence, timeline, chat."""
    console = console_of(request)
    order_id = request.path_params["order_id"]
    with console.reading() as session:
        document = views.order(session, order_id)
    if document is None:
        raise HTTPException(404, f"order {order_id} is not stored")
    releases = [a for a in document["actions"] if "guards" in (a.get("detail") or {})]
    return render(request, "order", {"order": document, "releases": releases})


def payments(request: Request) -> Response:
    """Evidence no order has taken (attach it by hand), then the latest evidence."""
    console = console_of(request)
    with console.reading() as session:
        unmatched = views.payments(session, unmatched_only=True, limit=200)
        recent = views.payments(session, unmatched_only=False, limit=50)
    return render(request, "payments", {"unmatched": unmatched, "recent": recent})


def blacklist(request: Request) -> Response:
    """The blacklist."""
    console = console_of(request)
    with console.reading() as session:
        entries = views.blacklist_entries(session)
    return render(request, "blacklist", {"entries": entries})


def market(request: Request) -> Response:
    """Rates of the watched markets and our ads as last read."""
    console = console_of(request)
    with console.reading() as session:
        rates = views.market_rates(session)
        ads = views.stored_ads(session)
    return render(request, "market", {"rates": rates, "ads": ads})


def approval_queue(request: Request) -> Response:
    """Releases waiting for an operator, with approve and hold."""
    queue = console_of(request).commands.approval_queue()
    return render(request, "approvals", {"queue": queue})


def audit(request: Request) -> Response:
    """The latest operator commands, from every front end."""
    console = console_of(request)
    with console.reading() as session:
        rows = views.audit_rows(session, limit=AUDIT_ROWS)
    return render(request, "audit", {"rows": rows})
