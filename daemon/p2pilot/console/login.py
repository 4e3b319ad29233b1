"""``/login`` and ``/logout``.

The login form has its own CSRF token (a random value in a short-lived cookie and
in the form, which must match): without it a hostile page could log a browser in
under the attacker's name. Failed logins are counted per client address and per
name; past the limit the form answers 429 until the window has passed.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from p2pilot.console.auth import check_password
from p2pilot.console.context import console_of
from p2pilot.logging import get_logger

log = get_logger("p2pilot.console")

LOGIN_COOKIE = "p2pilot_login"
MAX_FIELD = 200


def routes() -> list[BaseRoute]:
    """The login and logout routes."""
    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
    ]


def _form(request: Request, *, error: str | None = None, status: int = 200) -> Response:
    console = console_of(request)
    # Keep the token a form already carries: another tab (or the favicon's redirect
    # here) must not invalidate the form on screen.
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not 20 <= len(token) <= 64:
        token = secrets.token_urlsafe(24)
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": token, "error": error, "operator": None},
        status_code=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=console.sessions.secure(request),
    )
    return response


def login_form(request: Request) -> Response:
    """The login page."""
    return _form(request)


async def login(request: Request) -> Response:
    """Check the name and password; set the session cookie and go to the desk."""
    console = console_of(request)
    form = await request.form(max_files=0, max_fields=10)
    name = str(form.get("name") or "")[:MAX_FIELD]
    password = str(form.get("password") or "")[: MAX_FIELD * 5]
    offered = str(form.get("csrf") or "")
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(offered, expected):
        return _form(request, error="The form expired: please try again.", status=403)
    client = request.client.host if request.client else "?"
    keys = (f"addr:{client}", f"name:{name}")
    wait = console.throttle.retry_after(*keys)
    if wait:
        log.warning("console.login_throttled", client=client)
        response = _form(
            request, error=f"Too many failed logins: try again in {wait} s.", status=429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    # argon2 takes tens of milliseconds: off the event loop.
    from starlette.concurrency import run_in_threadpool

    user = await run_in_threadpool(check_password, console.config.console.users, name, password)
    if user is None:
        console.throttle.failed(*keys)
        log.warning("console.login_failed", client=client)
        return _form(request, error="Wrong name or password.", status=401)
    console.throttle.succeeded(f"name:{name}")
    log.info("console.login", operator=user.name, client=client)
    response = RedirectResponse("/", status_code=303)
    console.sessions.issue(response, request, user)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


def logout(request: Request) -> Response:
    """Drop the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    console_of(request).sessions.clear(response, request)
    return response
