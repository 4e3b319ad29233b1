"""The evidence listener under slow, many and malformed clients, over a real socket.

Every refusal is a 4xx with exactly one JSON log line from the daemon's
pipeline; nothing reaches stderr raw; a stalled client is cut off; the excess
over the connection cap is answered 503 and the listener recovers.
"""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p2pilot.evidence.payment_hook import PaymentHook
from p2pilot.evidence.routes import evidence_routes
from p2pilot.evidence.server import EvidenceServer, is_loopback
from p2pilot.logging import configure_logging
from p2pilot.signing import signature_headers
from p2pilot.store.engine import Store
from p2pilot.store.migrate import upgrade

SECRET = "evidence-hook-secret-0123"
PATH = "/v1/payments"


class LogLines:
    """The daemon's real log pipeline (JSON, redacting), written to a buffer."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self._seen = 0
        self.attach()

    def attach(self) -> None:
        """(Again) send the process's logs here; only later lines count."""
        configure_logging(level="info", fmt="json", secrets=[SECRET], stream=self.buffer)
        self._seen = len(self.buffer.getvalue().splitlines())

    def new(self) -> list[dict[str, Any]]:
        """The lines written since the last call, each parsed (a raw line fails the test)."""
        lines = self.buffer.getvalue().splitlines()
        fresh, self._seen = lines[self._seen :], len(lines)
        return [json.loads(line) for line in fresh]


@pytest.fixture
def logs() -> LogLines:
    return LogLines()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    subject = Store(f"sqlite:///{tmp_path / 'p2pilot.db'}")
    upgrade(subject)
    yield subject
    subject.dispose()


def hook(store: Store) -> PaymentHook:
    return PaymentHook(
        secret=SECRET, store=store, clock=lambda: datetime.now(UTC), on_recorded=lambda _r: None
    )


@pytest.fixture
def serve(store: Store) -> Iterator[Callable[..., EvidenceServer]]:
    started: list[EvidenceServer] = []

    def start(**limits: Any) -> EvidenceServer:
        server = EvidenceServer("127.0.0.1:0", evidence_routes(payments=hook(store)), **limits)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def endpoint(server: EvidenceServer) -> tuple[str, int]:
    host, port = server.address.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def exchange(server: EvidenceServer, raw: bytes, *, timeout: float = 5.0) -> tuple[int, bytes]:
    """Send ``raw`` bytes, read the answer until the server closes; (status, body)."""
    with socket.create_connection(endpoint(server), timeout=timeout) as connection:
        connection.sendall(raw)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 "), answer[:200]
    return int(status_line.split()[1]), body


def request(
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    method: str = "POST",
    path: str = PATH,
    length: str | None = None,
) -> bytes:
    """A raw HTTP/1.1 request that closes after its answer; headers may hold any bytes."""
    lines = [f"{method} {path} HTTP/1.1", "Host: hook", "Connection: close"]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + body


def payment(**changes: Any) -> bytes:
    document: dict[str, Any] = {
        "amount": "2500.00",
        "currency": "RUB",
        "payer_name": "Sidorov Oleg",
        "reference": "sbp-0001",
        "received_at": datetime.now(UTC).isoformat(),
    }
    document.update(changes)
    return json.dumps(document).encode()


def signed(body: bytes) -> dict[str, str]:
    return signature_headers(SECRET, body)


def good_signature_with(**header: str) -> Callable[[bytes], dict[str, str]]:
    return lambda body: {**signed(body), **header}


MALFORMED: list[tuple[str, bytes]] = [
    ("content-length not a number", request(b"{}", signed(b"{}"), length="abc")),
    ("content-length of 30 digits", request(b"{}", signed(b"{}"), length="9" * 30)),
    ("body too large", request(b"x" * 70_000, signed(b"x" * 70_000))),
    ("no body", request(b"", signed(b""))),
    (
        "superscript-digit timestamp",
        request(payment(), good_signature_with(**{"X-P2pilot-Timestamp": "²³"})(payment())),
    ),
    (
        "5000-digit timestamp",
        request(payment(), good_signature_with(**{"X-P2pilot-Timestamp": "9" * 5000})(payment())),
    ),
    (
        "non-ASCII signature",
        request(
            payment(), good_signature_with(**{"X-P2pilot-Signature": "v1=" + "é" * 64})(payment())
        ),
    ),
    ("unsigned", request(payment())),
    ("bad JSON", request(b"{not json", signed(b"{not json"))),
    ("JSON array", request(b"[]", signed(b"[]"))),
    (
        "amount 1e50000000",
        request(payment(amount="1e50000000"), signed(payment(amount="1e50000000"))),
    ),
    ("amount sNaN", request(payment(amount="sNaN"), signed(payment(amount="sNaN")))),
    ("amount 0e-99999999", request(payment(amount="0e-9999"), signed(payment(amount="0e-9999")))),
    ("amount negative", request(payment(amount="-5"), signed(payment(amount="-5")))),
    ("amount a JSON float", request(payment(amount=2500.5), signed(payment(amount=2500.5)))),
    (
        "amount a 5000-digit JSON integer",
        request(
            payment().replace(b'"2500.00"', b"9" * 5000),
            signed(payment().replace(b'"2500.00"', b"9" * 5000)),
        ),
    ),
    ("unknown path", request(b"{}", signed(b"{}"), path="/v1/nothing")),
    ("wrong method", request(b"", method="GET")),
    ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n"),
]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EvidenceServer, LogLines]]:
    """One listener for the many-request tests (each case still reads only its own lines)."""
    subject = Store(f"sqlite:///{tmp_path_factory.mktemp('shared') / 'p2pilot.db'}")
    upgrade(subject)
    lines = LogLines()
    server = EvidenceServer(
        "127.0.0.1:0", evidence_routes(payments=hook(subject)), request_timeout=0.5
    )
    server.start()
    yield server, lines
    server.stop()
    subject.dispose()


@pytest.mark.parametrize(("case", "raw"), MALFORMED, ids=[case for case, _ in MALFORMED])
def test_every_malformed_request_gets_a_4xx_and_one_log_line(
    shared: tuple[EvidenceServer, LogLines],
    capfd: pytest.CaptureFixture[str],
    case: str,
    raw: bytes,
) -> None:
    server, logs = shared
    logs.attach()
    status, _body = exchange(server, raw)
    assert 400 <= status < 500, case
    lines = logs.new()
    assert len(lines) == 1, lines
    assert lines[0]["level"] == "warning"
    assert SECRET not in json.dumps(lines)
    # Nothing bypasses the JSON pipeline: no raw traceback on the real stderr.
    assert capfd.readouterr().err == ""


def test_a_signed_payment_is_stored_and_a_replay_is_a_conflict(
    serve: Callable[..., EvidenceServer], logs: LogLines
) -> None:
    server = serve()
    body = payment(reference="sbp-ok")
    status, answer = exchange(server, request(body, signed(body)))
    assert status == 201, answer
    assert json.loads(answer)["stored"] is True and json.loads(answer)["order_id"] is None
    status, answer = exchange(server, request(body, signed(body)))
    assert status == 409 and json.loads(answer)["stored"] is False


def test_a_client_stalling_mid_body_is_cut_off(
    serve: Callable[..., EvidenceServer], logs: LogLines
) -> None:
    server = serve(request_timeout=0.5)
    logs.new()
    body = payment()
    head = request(body, signed(body))
    with socket.create_connection(endpoint(server), timeout=5) as stalled:
        stalled.sendall(head[: len(head) - len(body) + 10])  # headers and 10 bytes of the body
        assert stalled.recv(1024) == b""  # closed by the server (a hang would time out)
    assert [line["event"] for line in logs.new()] == ["evidence.refused"]


def test_a_client_dripping_its_headers_is_cut_off(serve: Callable[..., EvidenceServer]) -> None:
    server = serve(request_timeout=0.5)
    deadline = time.monotonic() + 5
    with socket.create_connection(endpoint(server), timeout=5) as dripping:
        for byte in b"POST /v1/payments HTTP/1.1\r\nHost: hook\r\nX-Slow: ":
            try:
                dripping.sendall(bytes([byte]))
            except OSError:
                break  # cut off while still sending
            answer = dripping.recv(1024) if _readable(dripping, 0.05) else None
            if answer == b"":
                break
            assert time.monotonic() < deadline, "a dripping client was never cut off"
        else:
            assert dripping.recv(1024) == b""


def _readable(connection: socket.socket, seconds: float) -> bool:
    import select

    ready, _, _ = select.select([connection], [], [], seconds)
    return bool(ready)


def test_connections_over_the_cap_get_503_and_the_listener_recovers(
    serve: Callable[..., EvidenceServer], logs: LogLines
) -> None:
    server = serve(max_connections=4, request_timeout=1.0)
    stalled = [socket.create_connection(endpoint(server), timeout=5) for _ in range(4)]
    try:
        for connection in stalled:
            connection.sendall(b"POST /v1/payments HTTP/1.1\r\nHost: hook\r\n")
        body = payment(reference="sbp-capped")
        status, _ = exchange(server, request(body, signed(body)))
        assert status == 503
        # The stalled ones are cut off at their deadline; then the listener serves again.
        for connection in stalled:
            assert connection.recv(1024) == b""
    finally:
        for connection in stalled:
            connection.close()
    deadline = time.monotonic() + 5
    while True:
        status, answer = exchange(server, request(body, signed(body)))
        if status != 503 or time.monotonic() > deadline:
            break
    assert status == 201, answer


def test_a_failure_is_a_500_and_one_redacted_json_line(tmp_path: Path, logs: LogLines) -> None:
    # A database without its tables: the intake fails for real, inside the endpoint.
    broken = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    server = EvidenceServer("127.0.0.1:0", evidence_routes(payments=hook(broken)))
    server.start()
    try:
        logs.new()
        body = payment(reference=f"ref-{SECRET}")
        status, answer = exchange(server, request(body, signed(body)))
    finally:
        server.stop()
        broken.dispose()
    assert status == 500 and json.loads(answer) == {"error": "not stored"}
    lines = [line for line in logs.new() if line["logger"] != "uvicorn.error"]
    assert [line["event"] for line in lines] == ["evidence.failed"]
    assert "no such table" in lines[0]["exception"]
    assert SECRET not in logs.buffer.getvalue()


def test_listening_beyond_loopback_is_warned_at_start(store: Store) -> None:
    server = EvidenceServer("0.0.0.0:0", evidence_routes(payments=hook(store)))
    with structlog.testing.capture_logs() as captured:
        server.start()
        server.stop()
    warnings = [e for e in captured if e["event"] == "evidence.exposed"]
    assert len(warnings) == 1 and "0.0.0.0" in warnings[0]["hint"]
    quiet = EvidenceServer("127.0.0.1:0", evidence_routes(payments=hook(store)))
    with structlog.testing.capture_logs() as captured:
        quiet.start()
        quiet.stop()
    assert not [e for e in captured if e["event"] == "evidence.exposed"]


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:8766", True),
        ("127.8.0.1:8766", True),
        ("[::1]:8766", True),
        ("localhost:8766", True),
        ("0.0.0.0:8766", False),
        ("[::]:8766", False),
        ("192.168.1.10:8766", False),
        ("hook.example.net:8766", False),
    ],
)
def test_what_counts_as_loopback(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback


# -- fuzz: any headers and body, over a real socket ---------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "Content-Type",
        "X-P2pilot-Timestamp",
        "X-P2pilot-Signature",
        "Transfer-Encoding",
        "Expect",
        "Connection",
        "Host",
        "X-Anything",
    ]
)
HEADER_VALUES = st.binary(max_size=80) | st.text(max_size=80).map(str.encode)
FIELD_VALUES = (
    st.text(max_size=30)
    | st.integers()
    | st.floats(allow_nan=False)
    | st.none()
    | st.booleans()
    | st.from_regex(r"[+-]?[0-9]{0,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,12})?", fullmatch=True)
)
PAYMENT_DOCUMENTS = st.dictionaries(
    st.sampled_from(["amount", "currency", "payer_name", "reference", "received_at", "account"])
    | st.text(max_size=8),
    FIELD_VALUES,
    max_size=7,
).map(lambda document: json.dumps(document).encode())
BODIES = PAYMENT_DOCUMENTS | st.binary(max_size=300)


@settings(
    max_examples=60,
    deadline=None,  # each example is a real round trip, bounded by the socket timeout
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5),
    body=BODIES,
    sign=st.booleans(),
    length=st.none() | st.binary(max_size=24),
    method=st.sampled_from([b"POST", b"GET", b"PUT", b"P\xc3\xa9ST"]),
)
def test_fuzzed_requests_never_crash_or_hang_the_listener(
    shared: tuple[EvidenceServer, LogLines],
    headers: list[tuple[str, bytes]],
    body: bytes,
    sign: bool,
    length: bytes | None,
    method: bytes,
) -> None:
    server, logs = shared
    logs.attach()
    lines = [method + b" /v1/payments HTTP/1.1", b"Host: hook", b"Connection: close"]
    lines.append(b"Content-Length: " + (str(len(body)).encode() if length is None else length))
    if sign:
        lines += [f"{k}: {v}".encode() for k, v in signed(body).items()]
    lines += [name.encode() + b": " + value for name, value in headers]
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection(endpoint(server), timeout=5) as connection:
        connection.sendall(raw)
        answer = b""
        # A hang would raise socket.timeout here; the request deadline (0.5 s) cuts
        # off a request whose declared length was never sent.
        while chunk := connection.recv(65536):
            answer += chunk
    if answer:
        status = int(answer.split(b" ", 2)[1])
        assert status < 500, answer[:300]
    events = logs.new()  # every line is JSON: nothing bypassed the pipeline
    assert not [line for line in events if line["level"] in ("error", "critical")], events
