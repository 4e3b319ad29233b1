"""Who is asking: argon2 passwords, the signed session cookie, CSRF tokens, login throttling.

The session is a cookie signed with ``[console] session_secret`` (itsdangerous):
the operator's name, a session id, a CSRF token, and a fingerprint of the
password hash it was issued under, so that changing a password in the config
logs that user out everywhere. Logging out records the session id in the store,
so a copy of the cookie is refused from then on. It is HttpOnly and
SameSite=Strict, and Secure when the request came over https (or always/never,
as configured).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from p2pilot.config.console import ConsoleConfig, ConsoleUser
from p2pilot.store import console_logouts
from p2pilot.store.engine import Store

COOKIE = "p2pilot_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing: a login for an unknown user costs what a known one does.

    Made on first use, not at import: every p2pilot command imports this module, and
    an argon2 hash is a tenth of a second of CPU.
    """
    return HASHER.hash(secrets.token_hex(8))


def hash_password(password: str) -> str:
    """The argon2id hash to paste into ``[[console.users]] password_hash``."""
    return HASHER.hash(password)


def check_password(users: Sequence[ConsoleUser], name: str, password: str) -> ConsoleUser | None:
    """The user if ``password`` is theirs; None otherwise, after the same work either way."""
    user = next((u for u in users if u.name == name), None)
    try:
        HASHER.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    return user


def _fingerprint(user: ConsoleUser) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Operator:
    """A logged-in operator; ``csrf`` is None for a bearer token (no cookie, no CSRF risk)."""

    name: str
    csrf: str | None
    via: str  # "session" or "token"


class Sessions:
    """Issue, read and end the session cookie."""

    def __init__(self, config: ConsoleConfig, store: Store) -> None:
        self.store = store
        secret = config.session_secret.get_secret_value() if config.session_secret else ""
        # Without users nobody can log in; a random key keeps the signer well defined.
        self._serializer = URLSafeTimedSerializer(
            secret or secrets.token_hex(32), salt="p2pilot-console-session"
        )
        self._users = {user.name: user for user in config.users}
        self._lifetime = int(config.session_lifetime.total_seconds())
        self._secure = config.secure_cookie

    def read(self, connection: HTTPConnection) -> Operator | None:
        """The operator whose valid, unexpired cookie came with the request."""
        cookie = connection.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self._lifetime)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        user = self._users.get(str(data.get("user")))
        if user is None or not hmac.compare_digest(str(data.get("pw")), _fingerprint(user)):
            return None
        sid = data.get("sid")
        if not isinstance(sid, str) or self._ended(sid):
            return None
        return Operator(name=user.name, csrf=str(data.get("csrf")), via="session")

    def _ended(self, sid: str) -> bool:
        with self.store.transaction(read_only=True) as session:
            return console_logouts.ended(session, sid)

    def issue(self, response: Response, connection: HTTPConnection, user: ConsoleUser) -> None:
        """Log ``user`` in on ``response``: a fresh cookie with a fresh CSRF token."""
        value = self._serializer.dumps(
            {
                "user": user.name,
                "pw": _fingerprint(user),
                "sid": secrets.token_urlsafe(18),
                "csrf": secrets.token_urlsafe(24),
            }
        )
        response.set_cookie(
            COOKIE,
            value,
            max_age=self._lifetime,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure(connection),
        )

    def clear(self, response: Response, connection: HTTPConnection) -> None:
        """Log out: the session is refused from now on, and the browser drops the cookie."""
        cookie = connection.cookies.get(COOKIE)
        try:
            data = self._serializer.loads(cookie or "", max_age=self._lifetime)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("sid"), str):
            now = datetime.now(UTC)
            with self.store.transaction() as session:
                console_logouts.end(
                    session,
                    data["sid"],
                    expires_at=now + timedelta(seconds=self._lifetime),
                    now=now,
                )
        response.delete_cookie(
            COOKIE, path="/", httponly=True, samesite="strict", secure=self.secure(connection)
        )

    def secure(self, connection: HTTPConnection) -> bool:
        """Whether the cookie gets the Secure flag on this request."""
        if self._secure == "always":
            return True
        if self._secure == "never":
            return False
        # Behind a trusted proxy uvicorn has already set the scheme from X-Forwarded-Proto.
        return connection.url.scheme == "https"


def csrf_ok(operator: Operator, offered: str | None) -> bool:
    """Whether a POST carries the session's CSRF token (a bearer token needs none)."""
    if operator.csrf is None:
        return True
    return offered is not None and hmac.compare_digest(offered, operator.csrf)


@dataclass
class LoginThrottle:
    """At most ``limit`` failed logins per ``window`` seconds per client address and per name.

    In memory: the console is one process, and a restart forgetting the count is
    no help to a guesser who is limited to a handful of tries a minute anyway.
    """

    limit: int = 5
    window: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, *keys: str) -> int:
        """Seconds to wait before another try is allowed; 0 when one is."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and now - times[0] >= self.window:
                    times.popleft()
                if len(times) >= self.limit:
                    wait = max(wait, self.window - (now - times[0]))
        return int(wait) + 1 if wait else 0

    def failed(self, *keys: str) -> None:
        """Count one failed login against each key."""
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)
            if len(self._failures) > 10_000:  # a spray of names must not grow memory forever
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, *keys: str) -> None:
        """Forget the failures of a name that has just logged in."""
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
