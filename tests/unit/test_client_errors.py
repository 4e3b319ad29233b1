"""Error mapping: pybit's and requests' exceptions → the error family of errors.py.

pybit's exception objects are built directly (that is what pybit raises after
talking HTTP); nothing here mocks HTTP.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from urllib3.exceptions import MaxRetryError, NewConnectionError

from p2pilot.exchange import requests as paths
from p2pilot.exchange.client import ExchangeClient
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
from p2pilot.exchange.failures import exchange_error
from p2pilot.exchange.transport import PYBIT_LOGGER, PybitTransport

KEY = "AbCdEfKeyKey1234"
SECRET = "SeCrEt-0123456789-very-secret"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


def ret(code: int | str, message: str = "boom", headers: dict[str, str] | None = None) -> Any:
    return InvalidRequestError(
        request=f'POST http://x{paths.RELEASE}: {{"orderId": "1", "secret": "{SECRET}"}}',
        message=message,
        status_code=code,
        time="12:00:00",
        resp_headers=headers or {},
    )


def http(status: int, message: str = "HTTP status code is not 200.") -> Any:
    return FailedRequestError(
        request=f"POST http://x{paths.RELEASE}: {{}}",
        message=message,
        status_code=status,
        time="12:00:00",
        resp_headers={},
    )


def mapped(exc: BaseException, *, write: bool = False, endpoint: str = paths.RELEASE) -> Any:
    error = exchange_error(exc, endpoint=endpoint, write=write, secrets=(KEY, SECRET), now=NOW)
    assert isinstance(error, ExchangeError)
    assert SECRET not in str(error) and KEY not in str(error)
    assert error.endpoint == endpoint
    return error


@pytest.mark.parametrize("code", [10003, 10004, 10005, 10007, 10010, "10004"])
def test_auth_codes(code: int | str) -> None:
    error = mapped(ret(code, "error sign! "))
    assert type(error) is AuthError
    assert error.code == int(code)


def test_http_401_is_auth() -> None:
    assert type(mapped(http(401))) is AuthError


def test_permission_denied_means_advertiser_status() -> None:
    error = mapped(ret(912000014, "permission denied\t"))
    assert isinstance(error, AdvertiserRequired) and isinstance(error, AuthError)
    assert "advertiser status" in error.message
    assert "General Advertiser" in error.message
    assert "not an API key problem" in error.message
    assert "\t" not in error.message


def test_no_keys_is_auth() -> None:
    error = mapped(PermissionError("Authenticated endpoints require keys."))
    assert type(error) is AuthError


def test_rate_limit_reset_from_header() -> None:
    headers = {"x-bapi-limit-reset-timestamp": str(NOW_MS + 1500)}  # any header case
    error = mapped(ret(10006, "Too many visits!", headers))
    assert type(error) is RateLimited
    assert error.reset_at == NOW + timedelta(milliseconds=1500)
    assert error.ip_ban is False
    assert error.code == 10006


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, NOW + timedelta(seconds=2)),
        ("soon", NOW + timedelta(seconds=2)),
        (str(NOW_MS - 60_000), NOW),  # a past reset: now, never negative
        (str(NOW_MS * 1000), NOW + timedelta(minutes=10)),  # a µs header is capped
    ],
)
def test_rate_limit_reset_defaults(header: str | None, expected: datetime) -> None:
    headers = {} if header is None else {"X-Bapi-Limit-Reset-Timestamp": header}
    assert mapped(ret(10006, "Too many visits!", headers)).reset_at == expected


def test_http_403_is_ip_ban() -> None:
    error = mapped(http(403, "You have breached the IP rate limit or your IP is from the USA."))
    assert type(error) is RateLimited
    assert error.ip_ban is True
    assert error.reset_at == NOW + timedelta(minutes=10)
    assert "IP rate limit ban or blocked region" in error.message


@pytest.mark.parametrize("code", [10000, 10016])
def test_server_codes_are_transient_and_unknown_for_writes(code: int) -> None:
    read = mapped(ret(code, "server timeout"), write=False)
    write = mapped(ret(code, "server timeout"), write=True)
    assert type(read) is TransientError and read.outcome_unknown is False
    assert type(write) is TransientError and write.outcome_unknown is True


def test_timestamp_error_says_clock_skew() -> None:
    error = mapped(ret(10002, "invalid request, please check your server timestamp"), write=True)
    assert type(error) is TransientError
    assert "clock" in error.message and "skew" in error.message
    assert error.outcome_unknown is False  # refused before it was processed


@pytest.mark.parametrize(
    ("status", "unknown_on_write"), [(429, False), (500, True), (502, True), (503, True)]
)
def test_http_transient(status: int, unknown_on_write: bool) -> None:
    assert mapped(http(status)).outcome_unknown is False
    error = mapped(http(status), write=True)
    assert type(error) is TransientError
    assert error.outcome_unknown is unknown_on_write


def test_unparsable_200_body_is_transient() -> None:
    body = FailedRequestError(
        request="JSON decoding",
        message="Conflict. Could not decode JSON.",
        status_code=409,
        time="12:00:00",
        resp_headers=None,
    )
    assert type(mapped(body)) is TransientError
    assert mapped(body, write=True).outcome_unknown is True


def test_other_http_statuses_are_rejected() -> None:
    error = mapped(http(418))
    assert type(error) is Rejected
    assert "418" in error.message


def test_a_missing_route_is_named_as_such() -> None:
    # A route Bybit removed answers 404 (or 10017): callers may treat it as an API move.
    for error in (mapped(http(404)), mapped(ret(10017, "route not found"))):
        assert isinstance(error, RouteNotFound) and isinstance(error, Rejected)
    assert "404" in mapped(http(404)).message


def test_chat_api_closed() -> None:
    error = mapped(ret(912200387, "chat open api close, pls chat with new open api"))
    assert isinstance(error, ChatApiClosed) and isinstance(error, Rejected)
    assert error.code == 912200387


def test_other_codes_are_rejected_with_trimmed_message() -> None:
    error = mapped(ret(912300013, "Error retrieving payment method [912300013]  \n"))
    assert type(error) is Rejected
    assert error.code == 912300013
    assert error.message == "Error retrieving payment method [912300013]"


@pytest.mark.parametrize("code", ["0", "abc", None])
def test_unreadable_codes_are_malformed(code: Any) -> None:
    assert type(mapped(ret(code))) is MalformedResponse


@pytest.mark.parametrize(
    "exc", [KeyError("retMsg"), TypeError("argument of type 'int' is not iterable")]
)
def test_pybit_choking_on_the_body_is_malformed(exc: BaseException) -> None:
    assert type(mapped(exc)) is MalformedResponse


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "unknown_on_write"),
    [
        (requests.exceptions.ReadTimeout("read timed out"), True),
        (requests.exceptions.ConnectTimeout("connect timed out"), False),
        (requests.ConnectionError("Connection aborted. RemoteDisconnected"), True),
        (refused(), False),
        (requests.exceptions.ChunkedEncodingError("broken"), True),
        (requests.exceptions.SSLError("bad handshake"), True),
    ],
)
def test_network_errors(exc: requests.RequestException, unknown_on_write: bool) -> None:
    read = mapped(exc)
    write = mapped(exc, write=True)
    assert type(read) is TransientError and read.outcome_unknown is False
    assert type(write) is TransientError and write.outcome_unknown is unknown_on_write


def test_our_own_bugs_are_not_mapped() -> None:
    assert exchange_error(RuntimeError("bug"), endpoint="/x", write=False) is None


def test_messages_never_carry_key_or_secret() -> None:
    leaky = f"bad key {KEY} and secret {SECRET}"
    for exc in (ret(10003, leaky), ret(912300013, leaky), ret(10006, leaky)):
        error = mapped(exc)
        assert "***" in error.message
        assert KEY not in repr(error.args) and SECRET not in repr(error.args)


# ---- the client's pybit session --------------------------------------------------


@contextmanager
def bare_root_logger() -> Iterator[None]:
    """No handler on the root logger: the case where pybit attaches its own.

    Entered inside the test body, since pytest adds its capture handlers per phase.
    """
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()
    try:
        yield
    finally:
        root.handlers[:] = saved


def test_session_is_tamed() -> None:
    before = logging.getLogger(PYBIT_LOGGER).handlers[:]
    with bare_root_logger():
        client = ExchangeClient(
            account="main",
            api_key=KEY,
            api_secret=SECRET,
            base_url="http://127.0.0.1:9/",
            timeout=3.5,
            recv_window=7000,
        )
    assert logging.getLogger(PYBIT_LOGGER).handlers == before
    assert isinstance(client.transport, PybitTransport)
    session = client.transport.session
    assert session.max_retries == 1
    assert session.force_retry is False
    assert session.log_requests is False
    assert session.retry_codes  # non-empty, or pybit restores its defaults
    assert not any(isinstance(code, int) for code in session.retry_codes)
    assert (session.timeout, session.recv_window) == (3.5, 7000)
    assert client.base_url == session.endpoint == "http://127.0.0.1:9"
    assert SECRET not in repr(client) and KEY not in repr(client)


def test_testnet_endpoint_without_base_url() -> None:
    client = ExchangeClient(account="t", api_key=KEY, api_secret=SECRET, testnet=True)
    assert client.base_url == "https://api-testnet.bybit.com"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_refused_connection_reports_call_and_maps() -> None:
    calls: list[Any] = []
    client = ExchangeClient(
        account="main",
        api_key=KEY,
        api_secret=SECRET,
        base_url=f"http://127.0.0.1:{closed_port()}",  # nothing listens there
        timeout=2,
        on_call=calls.append,
    )
    with pytest.raises(TransientError) as caught:
        client.release("1")
    assert caught.value.outcome_unknown is False  # the connection was refused
    (info,) = calls
    assert (info.account, info.endpoint, info.kind) == ("main", paths.RELEASE, "write")
    assert info.outcome == "TransientError"
    assert info.duration >= 0
