"""The JSON API under ``/api/v1/``: the documents of the CLI's ``--json``, same session or token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from p2pilot.console import views
from p2pilot.console.context import console_of
from p2pilot.records import OrderStatus

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def routes() -> list[BaseRoute]:
    """The API's routes (mounted under ``/api/v1``)."""
    return [
        Route("/desk", desk),
        Route("/orders", orders),
        Route("/orders/{order_id}", order),
        Route("/payments", payments),
    ]


def error(message: str, status: int) -> JSONResponse:
    """``{"error": message}`` with ``status``."""
    return JSONResponse({"error": message}, status_code=status)


def _limit(request: Request) -> int | JSONResponse:
    text = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        return error(f"limit must be a number from 1 to {MAX_LIMIT}", 400)
    return int(text)


def _status(text: str | None) -> int | JSONResponse | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        return int(OrderStatus[text.upper()])
    except KeyError:
        return error(f"unknown status {text!r}", 400)


def desk(request: Request) -> JSONResponse:
    """GET desk: what the desk page shows."""
    console = console_of(request)
    with console.reading() as session:
        return JSONResponse(views.desk(session, console.config, console.clock()))


def orders(request: Request) -> JSONResponse:
    """GET orders[?status=paid&account=NAME&limit=N]: newest first."""
    limit = _limit(request)
    status = _status(request.query_params.get("status"))
    if isinstance(limit, JSONResponse):
        return limit
    if isinstance(status, JSONResponse):
        return status
    console = console_of(request)
    with console.reading() as session:
        found = views.orders(
            session, status=status, account=request.query_params.get("account"), limit=limit
        )
    return JSONResponse(found)


def order(request: Request) -> JSONResponse:
    """GET orders/{id}: the order with history, chat, actions and evidence."""
    order_id = request.path_params["order_id"]
    with console_of(request).reading() as session:
        document = views.order(session, order_id)
    if document is None:
        return error(f"order {order_id} is not stored", 404)
    return JSONResponse(document)


def payments(request: Request) -> JSONResponse:
    """GET payments[?unmatched=1&limit=N]: evidence, newest first."""
    limit = _limit(request)
    if isinstance(limit, JSONResponse):
        return limit
    unmatched = request.query_params.get("unmatched", "") in ("1", "true", "yes")
    with console_of(request).reading() as session:
        return JSONResponse(views.payments(session, unmatched_only=unmatched, limit=limit))
