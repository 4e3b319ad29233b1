"""POST an event to an operator's URL: signed, bounded retries, idempotency key.

pending -> sent -> succeeded | failed | unknown (the receiver may have it). After
a crash it is sent again, up to the attempt limit: receivers dedupe on the
``Idempotency-Key`` header, so a second delivery is harmless.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import requests

from p2pilot import __version__
from p2pilot.rules.actions.base import ActionEnv, ActionRun, event_document
from p2pilot.rules.actions.notify import redact_url
from p2pilot.rules.actions.steps import MAX_ATTEMPTS
from p2pilot.rules.model import WebhookAction
from p2pilot.signing import signature_headers
from p2pilot.store.ledger import ActionState

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class WebhookResult:
    ok: bool
    status: int | None
    attempts: int
    error: str | None
    outcome_unknown: bool  # the receiver may have got it (timeout or dropped connection)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def encode(payload: Mapping[str, object]) -> bytes:
    """The body exactly as sent and signed."""
    return json.dumps(
        payload, separators=(",", ":"), ensure_ascii=False, default=_json_default
    ).encode("utf-8")


def send_webhook(
    url: str,
    payload: Mapping[str, object],
    *,
    secret: str | None,
    timeout: float = 5.0,
    max_attempts: int = 3,
    backoff: float = 0.5,
    idempotency_key: str | None = None,
    session: requests.Session | None = None,
    wait: Callable[[float], bool] | None = None,
) -> WebhookResult:
    """Deliver ``payload``; retries 5xx, 429, timeouts and connection errors with backoff."""
    body = encode(payload)
    http = session or requests.Session()
    pause = wait or threading.Event().wait
    status: int | None = None
    error: str | None = None
    unknown = False
    attempt = 0
    for attempt in range(1, max_attempts + 1):
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"p2pilot/{__version__}",
        }
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if secret:
            headers.update(signature_headers(secret, body))  # fresh timestamp per attempt
        try:
            response = http.post(url, data=body, headers=headers, timeout=timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            status, unknown = None, True
            error = f"{type(exc).__name__} on attempt {attempt}"
        except requests.RequestException as exc:
            return WebhookResult(False, None, attempt, type(exc).__name__, False)
        else:
            status, unknown = response.status_code, False
            if 200 <= status < 300:
                return WebhookResult(True, status, attempt, None, False)
            error = f"HTTP {status}"
            if status not in RETRY_STATUSES:
                return WebhookResult(False, status, attempt, error, False)
        if attempt < max_attempts and pause(backoff * 2 ** (attempt - 1)):
            break  # the daemon is stopping
    return WebhookResult(False, status, attempt, error, unknown)


class WebhookHandler:
    """Delivers ``webhook`` actions; after a crash, delivers again (bounded)."""

    redo_pending = True

    def __init__(self, env: ActionEnv) -> None:
        self.env = env
        self.steps = env.steps

    def execute(self, run: ActionRun[WebhookAction]) -> None:
        record, action = run.record, run.action
        document = event_document(run)
        if run.account.dry_run:
            self.steps.dry_run(record, run.log, {"url": redact_url(action.url)})
            return
        self.steps.mark_sent(record, {"url": redact_url(action.url)})
        result = send_webhook(
            action.url,
            document,
            secret=action.secret,
            timeout=action.timeout,
            max_attempts=action.max_attempts,
            idempotency_key=record.key,
            wait=self.env.stopping,
        )
        state = (
            ActionState.SUCCEEDED
            if result.ok
            else ActionState.UNKNOWN
            if result.outcome_unknown
            else ActionState.FAILED
        )
        self.steps.settle(
            record,
            state,
            error=result.error,
            detail={"status": result.status, "attempts": result.attempts},
        )
        run.log.info("webhook.settled", state=str(state), status=result.status)

    def reconcile(self, run: ActionRun[WebhookAction]) -> None:
        if run.record.attempts < MAX_ATTEMPTS:
            # Receivers dedupe on the Idempotency-Key header, so resending is safe.
            self.execute(run)
        else:
            self.steps.unknown_after_restart(run.record, run.log)
