"""Map what pybit and ``requests`` raise onto the error family of ``errors.py``.

Messages are built from the exchange's code and ``ret_msg`` only, never from
``str()`` of pybit's exception (which embeds the request body), and any occurrence
of the account's key or secret is masked as a last line of defence.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from urllib3.exceptions import NewConnectionError

from p2pilot.exchange.errors import (
    AdvertiserRequired,
    AuthError,
    ChatApiClosed,
    ExchangeError,
    MalformedResponse,
    RateLimited,
    Rejected,
    RouteNotFound,
    TransientError,
)

AUTH_CODES = frozenset({10003, 10004, 10005, 10007, 10010})
ADVERTISER_REQUIRED = 912000014
RATE_LIMITED = 10006
CLOCK_SKEW_CODE = 10002  # the request timestamp is outside recv_window
SERVER_BUSY_CODES = frozenset({10000, 10016})
CHAT_API_CLOSED = 912200387
ROUTE_NOT_FOUND = 10017
# Every code the reference gives a meaning (§4.1 general, §4.2 P2P). Anything else
# is a code nobody has documented yet: callers that must tell "refused this request"
# from "this API has changed under us" (per-order chat) ask ``is_documented``.
DOCUMENTED_CODES = frozenset(
    {
        *range(10000, 10011),
        10014,
        10016,
        10017,
        10018,
        10024,
        10027,
        912000014,
        912300013,
        912300019,
        912300014,
        912120022,
        912120024,
        912120050,
        912120031,
        912120019,
        912120030,
        912100027,
        912300001,
        912200387,
        913100009,
    }
)


def is_documented(code: int | None) -> bool:
    """Whether the reference knows what this ``ret_code`` means."""
    return code in DOCUMENTED_CODES


RESET_HEADER = "X-Bapi-Limit-Reset-Timestamp"
DEFAULT_RESET = timedelta(seconds=2)  # what pybit assumes when the header is missing
MAX_RESET = timedelta(minutes=10)  # a reset further out is a broken header, not a limit
IP_BAN = timedelta(minutes=10)  # Bybit lifts IP bans after at least 10 minutes
_MIN_SECRET_LEN = 4


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """One response header, case-insensitively, from whatever mapping pybit kept."""
    if not headers:
        return None
    try:
        value = headers.get(name)
        if value is None:
            lowered = name.lower()
            value = next((v for k, v in headers.items() if str(k).lower() == lowered), None)
    except (AttributeError, TypeError):
        return None
    return None if value is None else str(value).strip()


def rate_limit_reset(headers: Mapping[str, Any] | None, now: datetime) -> datetime:
    """When a 10006 limit lifts: the ms header, else now + 2 s; never before now."""
    raw = header(headers, RESET_HEADER)
    try:
        reset_ms = int(raw) if raw is not None else None
    except ValueError:
        reset_ms = None
    if reset_ms is None:
        return now + DEFAULT_RESET
    now_ms = int(now.timestamp() * 1000)
    delta = min(max(reset_ms - now_ms, 0), int(MAX_RESET.total_seconds() * 1000))
    return now + timedelta(milliseconds=delta)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LEN:
            text = text.replace(secret, "***")
    return text


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def for_code(
    code: int,
    message: str,
    *,
    endpoint: str,
    write: bool,
    headers: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> ExchangeError:
    """The error for a non-zero ``ret_code``/``retCode`` and its (already scrubbed) message."""
    text = message.rstrip()
    said = f": {text}" if text else ""
    if code in AUTH_CODES:
        return AuthError(f"the exchange refused the API key{said}", endpoint=endpoint, code=code)
    if code == ADVERTISER_REQUIRED:
        return AdvertiserRequired(
            "the account needs P2P advertiser status (General Advertiser or above) on Bybit "
            f"to use the P2P API; this is not an API key problem (exchange said{said or ': -'})",
            endpoint=endpoint,
            code=code,
        )
    if code == RATE_LIMITED:
        reset_at = rate_limit_reset(headers, now or datetime.now(UTC))
        return RateLimited(
            f"per-account rate limit hit{said}", reset_at=reset_at, endpoint=endpoint, code=code
        )
    if code == CLOCK_SKEW_CODE:
        return TransientError(
            "request timestamp outside recv_window: this host's clock is probably skewed "
            f"(check NTP){said}",
            endpoint=endpoint,
            code=code,
        )
    if code in SERVER_BUSY_CODES:
        return TransientError(
            f"exchange server error{said}", endpoint=endpoint, code=code, outcome_unknown=write
        )
    if code == CHAT_API_CLOSED:
        return ChatApiClosed(
            f"the per-order chat API is closed; use the session chat{said}",
            endpoint=endpoint,
            code=code,
        )
    if code == ROUTE_NOT_FOUND:
        return RouteNotFound(f"the exchange has no such route{said}", endpoint=endpoint, code=code)
    return Rejected(text or "the exchange rejected the request", endpoint=endpoint, code=code)


def _for_http(
    exc: FailedRequestError, *, endpoint: str, write: bool, now: datetime
) -> ExchangeError:
    status = _code(exc.status_code)
    if status == 401:
        return AuthError("HTTP 401: API key missing or refused", endpoint=endpoint)
    if status == 403:
        return RateLimited(
            "HTTP 403: IP rate limit ban or blocked region (Bybit lifts IP bans after "
            "at least 10 minutes; a US or geo-blocked IP stays blocked)",
            reset_at=now + IP_BAN,
            endpoint=endpoint,
            ip_ban=True,
        )
    if status == 409:
        # pybit's code for a 200 whose body is empty or not JSON: the request was served.
        return TransientError(
            "empty or non-JSON response body", endpoint=endpoint, outcome_unknown=write
        )
    if status == 404:
        return RouteNotFound("HTTP 404: the exchange has no such route", endpoint=endpoint)
    if status == 429:
        return TransientError("HTTP 429: exchange overloaded", endpoint=endpoint)
    if status is not None and status >= 500:
        return TransientError(
            f"HTTP {status}: exchange server error", endpoint=endpoint, outcome_unknown=write
        )
    if status == 400 and "retries exceeded" in str(exc.message).lower():
        return TransientError(
            "exchange kept answering a retryable error", endpoint=endpoint, outcome_unknown=write
        )
    return Rejected(f"HTTP {status}: request refused by the server", endpoint=endpoint)


def _never_sent(exc: requests.RequestException) -> bool:
    """True only when the request provably never reached the server."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        return isinstance(inner, NewConnectionError)
    return False


def _for_network(exc: requests.RequestException, *, endpoint: str, write: bool) -> ExchangeError:
    kind = type(exc).__name__
    unknown = write and not _never_sent(exc)
    if isinstance(exc, requests.exceptions.Timeout):
        what = "timed out"
    elif isinstance(
        exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
    ):
        what = "connection failed or dropped"
    else:
        what = "network error"
    return TransientError(f"request {what} ({kind})", endpoint=endpoint, outcome_unknown=unknown)


def exchange_error(
    exc: BaseException,
    *,
    endpoint: str,
    write: bool,
    secrets: Iterable[str] = (),
    now: datetime | None = None,
) -> ExchangeError | None:
    """The ``ExchangeError`` for what a pybit call raised, or None for our own bugs."""
    now = now or datetime.now(UTC)
    if isinstance(exc, ExchangeError):
        return exc
    if isinstance(exc, InvalidRequestError):
        code = _code(exc.status_code)
        if not code:
            return MalformedResponse(
                f"unreadable return code {str(exc.status_code)[:40]!r}", endpoint=endpoint
            )
        message = _scrub(str(exc.message or ""), secrets)
        return for_code(
            code, message, endpoint=endpoint, write=write, headers=exc.resp_headers, now=now
        )
    if isinstance(exc, FailedRequestError):
        return _for_http(exc, endpoint=endpoint, write=write, now=now)
    if isinstance(exc, requests.RequestException):
        return _for_network(exc, endpoint=endpoint, write=write)
    if isinstance(exc, PermissionError):
        return AuthError("no API key or secret configured for this account", endpoint=endpoint)
    if isinstance(exc, KeyError | TypeError | AttributeError | json.JSONDecodeError):
        # pybit itself choked on a body that is JSON but not an envelope (a list, a
        # bare number, an error code without a message).
        return MalformedResponse(
            f"response is not a P2P envelope ({type(exc).__name__})", endpoint=endpoint
        )
    return None
