"""``POST /v1/payments``: a bank hook reports fiat that arrived.

Signed like our webhooks (HMAC-SHA256 over ``timestamp.body``, 5-minute replay
window, see ``p2pilot.signing``), stored with its unique reference, matched to
an order, and acted on at once: the server drains the outbox itself instead of
waiting for the next poll.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from p2pilot.evidence.intake import EvidenceError, IntakeResult, record_evidence
from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.logging import get_logger
from p2pilot.signing import SignatureError, verify
from p2pilot.store.engine import Store

log = get_logger(__name__)

MAX_BODY = 64 * 1024
PATH = "/v1/payments"


class BadPayment(ValueError):
    """The posted document is not a payment we can take."""


@dataclass(frozen=True, slots=True)
class PostedPayment:
    amount: Decimal
    currency: str
    reference: str
    payer_name: str
    received_at: datetime
    account: str | None


def parse_payment(body: bytes) -> PostedPayment:
    """Validate the JSON document; amounts must be strings or integers, never floats."""
    try:
        document = json.loads(body, parse_float=lambda text: float(text))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPayment(f"body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadPayment("body must be a JSON object")
    amount = document.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, (str, int)):
        raise BadPayment('amount must be a decimal string such as "8145.00"')
    try:
        value = Decimal(str(amount))
    except InvalidOperation as exc:
        raise BadPayment(f"amount {amount!r} is not a number") from exc
    if not value.is_finite() or value <= 0:
        raise BadPayment("amount must be positive")
    fields: dict[str, Any] = {"amount": value}
    for key in ("currency", "reference"):
        text = document.get(key)
        if not isinstance(text, str) or not text.strip():
            raise BadPayment(f"{key} is required")
        fields[key] = text.strip()
    payer = document.get("payer_name", "")
    if not isinstance(payer, str):
        raise BadPayment("payer_name must be a string")
    fields["payer_name"] = payer
    received = document.get("received_at")
    try:
        at = datetime.fromisoformat(received) if isinstance(received, str) else None
    except ValueError as exc:
        raise BadPayment("received_at must be ISO 8601") from exc
    if at is None:
        raise BadPayment("received_at is required (ISO 8601)")
    fields["received_at"] = at if at.tzinfo else at.replace(tzinfo=UTC)
    account = document.get("account")
    if account is not None and not isinstance(account, str):
        raise BadPayment("account must be a string")
    fields["account"] = account
    unknown = set(document) - {
        "amount",
        "currency",
        "payer_name",
        "reference",
        "received_at",
        "account",
    }
    if unknown:
        raise BadPayment(f"unknown keys: {', '.join(sorted(unknown))}")
    return PostedPayment(**fields)


class EvidenceServer:
    """A small HTTP server in a background thread, inside the daemon."""

    def __init__(
        self,
        listen: str,
        *,
        secret: str,
        store: Store,
        clock: Callable[[], datetime],
        on_recorded: Callable[[IntakeResult], None],
        policy: MatchPolicy = DEFAULT_POLICY,
    ) -> None:
        host, _, port = listen.rpartition(":")
        owner = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms wait

            def do_POST(self) -> None:
                owner._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return  # requests are logged by _handle, as structured lines

        self._server = ThreadingHTTPServer((host.strip("[]"), int(port)), Handler)
        self._server.daemon_threads = True
        self._secret = secret
        self._store = store
        self._clock = clock
        self._on_recorded = on_recorded
        self._policy = policy
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="evidence-http", daemon=True
        )
        self._thread.start()
        log.info("evidence.listening", url=f"{self.address}{PATH}")

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        if request.path != PATH:
            self._reply(request, HTTPStatus.NOT_FOUND, {"error": "not found"})
            return
        length = int(request.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._reply(request, HTTPStatus.BAD_REQUEST, {"error": "body missing or too large"})
            return
        body = request.rfile.read(length)
        try:
            verify(self._secret, dict(request.headers.items()), body)
        except SignatureError as exc:
            log.warning("evidence.refused", reason=str(exc), peer=request.client_address[0])
            self._reply(request, HTTPStatus.UNAUTHORIZED, {"error": str(exc)})
            return
        try:
            fields = parse_payment(body)
            now = self._clock()
            result = record_evidence(
                self._store,
                amount=fields.amount,
                currency=fields.currency,
                payer_name=fields.payer_name,
                reference=fields.reference,
                received_at=fields.received_at,
                account=fields.account,
                source="http",
                now=now,
                policy=self._policy,
            )
        except (BadPayment, EvidenceError) as exc:
            self._reply(request, HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except Exception:
            log.exception("evidence.failed")
            self._reply(request, HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "not stored"})
            return
        log.info(
            "payment.received" if result.order_id else "payment.unmatched",
            order_id=result.order_id,
            reference=fields.reference,
            reason=result.reason,
            stored=result.stored,
        )
        if result.order_id is not None:
            # Act before answering: when the poster hears back, the rules have run.
            try:
                self._on_recorded(result)
            except Exception:
                log.exception("evidence.dispatch_failed", order_id=result.order_id)
        status = HTTPStatus.CREATED if result.stored else HTTPStatus.CONFLICT
        self._reply(
            request,
            status,
            {"stored": result.stored, "order_id": result.order_id, "reason": result.reason},
        )

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: HTTPStatus, document: Any) -> None:
        payload = json.dumps(document).encode()
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)
