"""What an operator does from the console: each a call of the operator layer.

The console adds nothing to a command but the form or JSON around it: the
preconditions, the effect and the audit row (source ``console``) are the
operator layer's (:mod:`p2pilot.operator`), the same as the CLI's. A page's
form answers with a redirect back to the page, the outcome's one line in the
URL; the API answers with the outcome's JSON, 200 when done and 409 when refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from p2pilot.console.context import console_of, operator_of
from p2pilot.operator import Operator, OperatorCommands, Outcome

MAX_FIELD = 2000
# Command(commands, operator, path parameters, fields) -> outcome
Command = Callable[[OperatorCommands, Operator, Mapping[str, str], Mapping[str, str]], Outcome]


class BadInput(ValueError):
    """A field the command cannot take (not a number, say): answered 400."""


def _decimal(fields: Mapping[str, str], name: str) -> Decimal | None:
    text = fields.get(name, "").strip()
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise BadInput(f"{name} must be a decimal amount, e.g. 1500.00") from None


def _int(text: str, name: str) -> int:
    if not text.strip().isdigit():
        raise BadInput(f"{name} must be a number")
    return int(text)


def _text(fields: Mapping[str, str], name: str) -> str | None:
    return fields.get(name, "").strip() or None


COMMANDS: dict[str, Command] = {
    "approve": lambda c, who, path, f: c.approve(
        who, path["order_id"], lift_hold=f.get("lift_hold") in ("1", "on", "true")
    ),
    "hold": lambda c, who, path, f: c.hold(who, path["order_id"], f.get("reason", "").strip()),
    "confirm-payment": lambda c, who, path, f: c.confirm_payment(
        who,
        path["order_id"],
        amount=_decimal(f, "amount"),
        reference=_text(f, "reference"),
        payer=_text(f, "payer"),
    ),
    "say": lambda c, who, path, f: c.say(who, path["order_id"], f.get("text", "")),
    "attach": lambda c, who, path, f: c.attach(
        who, _int(path["payment_id"], "payment id"), f.get("order_id", "").strip()
    ),
    "pause": lambda c, who, path, f: c.pause(who, path["account"], reason=_text(f, "reason")),
    "resume": lambda c, who, path, f: c.resume(who, path["account"]),
    "blacklist-add": lambda c, who, path, f: c.blacklist_add(
        who, f.get("kind", ""), f.get("value", ""), reason=_text(f, "reason")
    ),
    "blacklist-remove": lambda c, who, path, f: c.blacklist_remove(
        who, _int(path["entry_id"], "entry id")
    ),
}


async def _run(request: Request, name: str, fields: Mapping[str, str]) -> Outcome:
    console = console_of(request)
    who = Operator(operator_of(request).name, "console")
    command = COMMANDS[name]
    path = {key: str(value) for key, value in request.path_params.items()}
    # The layer blocks (the database, the exchange for `say`): off the event loop.
    return await run_in_threadpool(command, console.commands, who, path, fields)


def page_action(name: str, back: Callable[[Mapping[str, str]], str]) -> Callable[..., Any]:
    """A form's POST: run ``name``, then back to the page with the outcome's line."""

    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=20)
        fields = {key: str(value)[:MAX_FIELD] for key, value in form.items()}
        target = back({key: str(value) for key, value in request.path_params.items()})
        try:
            outcome = await _run(request, name, fields)
        except BadInput as exc:
            return RedirectResponse(f"{target}?{urlencode({'error': str(exc)})}", 303)
        key = "done" if outcome.ok else "error"
        message = outcome.message if outcome.ok else f"{name} refused: {outcome.message}"
        return RedirectResponse(f"{target}?{urlencode({key: message})}", 303)

    return endpoint


def api_action(name: str) -> Callable[..., Any]:
    """An API POST: run ``name`` on the JSON body's fields; the outcome as JSON."""

    async def endpoint(request: Request) -> Response:
        fields: dict[str, str] = {}
        if await request.body():
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse({"error": "the body must be a JSON object"}, 400)
            if not isinstance(body, dict):
                return JSONResponse({"error": "the body must be a JSON object"}, 400)
            fields = {k: "" if v is None else str(v)[:MAX_FIELD] for k, v in body.items()}
            if isinstance(body.get("lift_hold"), bool):
                fields["lift_hold"] = "1" if body["lift_hold"] else ""
        try:
            outcome = await _run(request, name, fields)
        except BadInput as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse(outcome.to_json(), status_code=200 if outcome.ok else 409)

    return endpoint


def _order_page(path: Mapping[str, str]) -> str:
    return f"/orders/{path['order_id']}"


def page_routes() -> list[BaseRoute]:
    """The forms' POST routes."""
    return [
        *(
            Route(f"/orders/{{order_id}}/{name}", page_action(name, _order_page), methods=["POST"])
            for name in ("approve", "hold", "confirm-payment", "say")
        ),
        Route(
            "/approvals/{order_id}/approve",
            page_action("approve", lambda _: "/approvals"),
            methods=["POST"],
        ),
        Route(
            "/approvals/{order_id}/hold",
            page_action("hold", lambda _: "/approvals"),
            methods=["POST"],
        ),
        Route(
            "/payments/{payment_id}/attach",
            page_action("attach", lambda _: "/payments"),
            methods=["POST"],
        ),
        Route("/accounts/{account}/pause", page_action("pause", lambda _: "/"), methods=["POST"]),
        Route("/accounts/{account}/resume", page_action("resume", lambda _: "/"), methods=["POST"]),
        Route(
            "/blacklist/add", page_action("blacklist-add", lambda _: "/blacklist"), methods=["POST"]
        ),
        Route(
            "/blacklist/{entry_id}/remove",
            page_action("blacklist-remove", lambda _: "/blacklist"),
            methods=["POST"],
        ),
    ]


def api_routes() -> list[BaseRoute]:
    """The API's POST routes (mounted under ``/api/v1``)."""
    return [
        *(
            Route(f"/orders/{{order_id}}/{name}", api_action(name), methods=["POST"])
            for name in ("approve", "hold", "confirm-payment", "say")
        ),
        Route("/payments/{payment_id}/attach", api_action("attach"), methods=["POST"]),
        Route("/accounts/{account}/pause", api_action("pause"), methods=["POST"]),
        Route("/accounts/{account}/resume", api_action("resume"), methods=["POST"]),
    ]
