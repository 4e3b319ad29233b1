"""The console's front door: nothing but ``/login`` and static files without a login.

An ASGI middleware, so that no route (a 404 included) can answer before it has
run. A page request without a session is redirected to ``/login``; an API request
gets 401. Every POST that rides on the session cookie must carry the session's
CSRF token, in the ``X-CSRF-Token`` header (htmx, scripts) or in the ``csrf``
field of a url-encoded form, checked here once for every route. A bearer token
is not sent by a browser on its own, so it needs none.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from p2pilot.console.auth import CSRF_FIELD, CSRF_HEADER, Operator, Sessions, csrf_ok

OPEN_PATHS = ("/login", "/favicon.ico")  # a browser asks for the icon unprompted
OPEN_PREFIXES = ("/static/",)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_FORM_BYTES = 64 * 1024  # a chat line or a reason, not an upload

# Resolves a bearer token to the operator's name, or None.
TokenCheck = Callable[[str], str | None]


def _no_tokens(_token: str) -> str | None:
    return None


class Gate:
    """Authenticate every request and check CSRF on every POST made with a session."""

    def __init__(self, app: ASGIApp, sessions: Sessions, tokens: TokenCheck = _no_tokens) -> None:
        self.app = app
        self.sessions = sessions
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        operator = self.sessions.read(connection) or await self._bearer(connection)
        api = path.startswith("/api/")
        if operator is None:
            await _refuse_anonymous(api)(scope, receive, send)
            return
        scope.setdefault("state", {})["operator"] = operator
        if scope["method"] not in SAFE_METHODS:
            offered, receive = await _offered_token(connection, receive)
            if not csrf_ok(operator, offered):
                await _refuse_csrf(api)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _bearer(self, connection: HTTPConnection) -> Operator | None:
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        # The check reads the database: off the event loop.
        name = await run_in_threadpool(self.tokens, token.strip())
        return Operator(name=name, csrf=None, via="token") if name else None


def _refuse_anonymous(api: bool) -> Response:
    if api:
        return JSONResponse(
            {"error": "log in or send Authorization: Bearer TOKEN"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return RedirectResponse("/login", status_code=303)


def _refuse_csrf(api: bool) -> Response:
    message = "missing or wrong CSRF token: reload the page and try again"
    if api:
        return JSONResponse({"error": message}, status_code=403)
    return PlainTextResponse(message, status_code=403)


async def _offered_token(
    connection: HTTPConnection, receive: Receive
) -> tuple[str | None, Receive]:
    """The CSRF token from the header or the form, and a ``receive`` that replays the body."""
    header = connection.headers.get(CSRF_HEADER)
    if header:
        return header, receive
    content_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None, receive
    body, messages = await _read_body(receive)
    if body is None:
        return None, _replay(messages)
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return None, _replay(messages)
    values = fields.get(CSRF_FIELD)
    return (values[0] if values else None), _replay(messages)


async def _read_body(receive: Receive) -> tuple[bytes | None, list[Message]]:
    messages: list[Message] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages  # the client went away
        body += message.get("body", b"")
        if len(body) > MAX_FORM_BYTES:
            return None, messages
        if not message.get("more_body", False):
            return body, messages


def _replay(messages: list[Message]) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return {"type": "http.disconnect"}

    return receive
