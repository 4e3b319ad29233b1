"""``POST /v1/payments``: a bank hook reports fiat that arrived.

Signed like our webhooks (HMAC-SHA256 over ``timestamp.body``, 5-minute replay
window, see ``p2pilot.signing``), stored with its unique reference, matched to
an order, and acted on at once: the hook drains the outbox itself instead of
waiting for the next poll, and answers when the rules have run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from p2pilot.evidence.http import Refused, read_body, reply
from p2pilot.evidence.intake import EvidenceError, IntakeResult, record_evidence
from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.logging import get_logger
from p2pilot.numbers import NumberError, exact_decimal
from p2pilot.signing import SignatureError, verify
from p2pilot.store.engine import Store

log = get_logger("p2pilot.evidence.server")

PATH = "/v1/payments"
MAX_TEXT_FIELD = 512  # a reference, a payer's name, a currency code
FIELDS = ("amount", "currency", "payer_name", "reference", "received_at", "account")


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


def _refuse_float(text: str) -> Any:
    raise BadPayment('amount must be a decimal string such as "8145.00", not a JSON float')


def _refuse_constant(text: str) -> Any:
    raise BadPayment(f"{text} is not a JSON number")


def parse_payment(body: bytes) -> PostedPayment:
    """Validate the JSON document; amounts must be strings or integers, never floats."""
    try:
        # Floats and NaN/Infinity are refused as they are parsed; a JSON integer
        # of 5000 digits is refused by int() itself (ValueError), before any use.
        document = json.loads(body, parse_float=_refuse_float, parse_constant=_refuse_constant)
    except BadPayment:
        raise
    except (ValueError, RecursionError) as exc:
        raise BadPayment(f"body is not JSON: {str(exc)[:80]}") from exc
    if not isinstance(document, dict):
        raise BadPayment("body must be a JSON object")
    unknown = set(document) - set(FIELDS)
    if unknown:
        raise BadPayment(f"unknown keys: {', '.join(sorted(unknown))[:200]}")
    try:
        value = exact_decimal(document.get("amount"), positive=True)
    except NumberError as exc:
        raise BadPayment(f"amount: {exc}") from exc
    currency = _text(document, "currency", required=True)
    reference = _text(document, "reference", required=True)
    payer = _text(document, "payer_name", required=False)
    received = document.get("received_at")
    if not isinstance(received, str) or len(received) > 64:
        raise BadPayment("received_at is required (ISO 8601)")
    try:
        at = datetime.fromisoformat(received)
    except ValueError as exc:
        raise BadPayment("received_at must be ISO 8601") from exc
    account = document.get("account")
    if account is not None and (not isinstance(account, str) or len(account) > MAX_TEXT_FIELD):
        raise BadPayment("account must be a string")
    return PostedPayment(
        amount=value,
        currency=currency,
        reference=reference,
        payer_name=payer,
        received_at=at if at.tzinfo else at.replace(tzinfo=UTC),
        account=account,
    )


def _text(document: dict[str, Any], key: str, *, required: bool) -> str:
    value = document.get(key, "" if not required else None)
    if not isinstance(value, str) or len(value) > MAX_TEXT_FIELD:
        raise BadPayment(f"{key} must be a string of at most {MAX_TEXT_FIELD} characters")
    if required and not value.strip():
        raise BadPayment(f"{key} is required")
    return value.strip() if required else value


class PaymentHook:
    """The endpoint: verify, parse, record, act, answer."""

    def __init__(
        self,
        *,
        secret: str,
        store: Store,
        clock: Callable[[], datetime],
        on_recorded: Callable[[IntakeResult], None],
        policy: MatchPolicy = DEFAULT_POLICY,
    ) -> None:
        self._secret = secret
        self._store = store
        self._clock = clock
        self._on_recorded = on_recorded
        self._policy = policy

    async def __call__(self, request: Request) -> Response:
        body = await read_body(request)
        try:
            verify(self._secret, dict(request.headers.items()), body)
        except SignatureError as exc:
            raise Refused(HTTPStatus.UNAUTHORIZED, str(exc)) from exc
        try:
            fields = parse_payment(body)
        except BadPayment as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, str(exc)) from exc
        # The store and the rules are synchronous: run them off the event loop.
        result = await run_in_threadpool(self._record, fields)
        status = HTTPStatus.CREATED if result.stored else HTTPStatus.CONFLICT
        return reply(
            status,
            {"stored": result.stored, "order_id": result.order_id, "reason": result.reason},
        )

    def _record(self, fields: PostedPayment) -> IntakeResult:
        try:
            result = record_evidence(
                self._store,
                amount=fields.amount,
                currency=fields.currency,
                payer_name=fields.payer_name,
                reference=fields.reference,
                received_at=fields.received_at,
                account=fields.account,
                source="http",
                now=self._clock(),
                policy=self._policy,
            )
        except EvidenceError as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, str(exc)) from exc
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
        return result
