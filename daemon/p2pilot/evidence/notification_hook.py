"""``POST /v1/notifications``: a phone forwards the text of a bank SMS or push notification.

Forwarder apps cannot sign requests; they send a static header. Each
``[[evidence.sources]]`` entry has its own token, sent as ``Authorization:
Bearer TOKEN``; the token names the source. Tokens are compared in constant
time and never logged, echoed or stored. The text then goes to the shared
bank-text intake (templates, repeats, unparsed texts), and the answer says what
became of it:

- 201 a new text (``status``: ``evidence``, ``repeat`` of an earlier report of the
  same transfer, or ``unparsed``, waiting for the operator);
- 200 the same text was taken before (a forwarder's retry): nothing changed;
- 400 no text in the request; 401 no or an unknown token.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from datetime import datetime
from http import HTTPStatus
from typing import Protocol

from pydantic import SecretStr
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from p2pilot.evidence.forwarders import BadNotification, PostedNotification, parse_notification
from p2pilot.evidence.http import Refused, read_body, reply
from p2pilot.evidence.texts import BankText, TextIntake, TextOutcome

PATH = "/v1/notifications"
BEARER = "bearer "


class NotificationSource(Protocol):
    """One ``[[evidence.sources]]`` entry, as the hook uses it (the config's SourceConfig)."""

    @property
    def name(self) -> str: ...
    @property
    def token(self) -> SecretStr: ...
    @property
    def account(self) -> str | None: ...  # its evidence pays only this account's orders


def source_of(
    authorization: str | None, sources: Sequence[NotificationSource]
) -> NotificationSource:
    """The source whose token the request carries; Refused(401) otherwise."""
    if not authorization or not authorization[: len(BEARER)].lower() == BEARER:
        raise Refused(HTTPStatus.UNAUTHORIZED, "send Authorization: Bearer TOKEN")
    presented = authorization[len(BEARER) :].strip().encode()
    found = None
    for source in sources:
        # Every token is compared, in constant time: the answer's timing tells nothing.
        if hmac.compare_digest(presented, source.token.get_secret_value().encode()):
            found = source
    if found is None:
        raise Refused(HTTPStatus.UNAUTHORIZED, "unknown token")
    return found


class NotificationHook:
    """The endpoint: authenticate the source, read the forwarder's shape, take the text."""

    def __init__(
        self,
        *,
        sources: Sequence[NotificationSource],
        intake: TextIntake,
        clock: Callable[[], datetime],
    ) -> None:
        self._sources = tuple(sources)
        self._intake = intake
        self._clock = clock

    async def __call__(self, request: Request) -> Response:
        source = source_of(request.headers.get("authorization"), self._sources)
        body = await read_body(request)
        now = self._clock()
        try:
            posted = parse_notification(body, request.headers.get("content-type"), now=now)
        except BadNotification as exc:
            raise Refused(HTTPStatus.BAD_REQUEST, str(exc)) from exc
        # The store and the rules are synchronous: run them off the event loop.
        outcome = await run_in_threadpool(self._take, source, posted, now)
        return reply(
            HTTPStatus.CREATED if outcome.fresh else HTTPStatus.OK,
            {
                "notification_id": outcome.notification_id,
                "status": outcome.status,
                "order_id": outcome.order_id,
                "reason": outcome.reason,
                "repeat": not outcome.fresh,
            },
        )

    def _take(
        self, source: NotificationSource, posted: PostedNotification, now: datetime
    ) -> TextOutcome:
        return self._intake.take(
            BankText(
                channel="notice",
                source=source.name,
                text=posted.text,
                sender=posted.sender,
                received_at=posted.sent_at or now,
                account=source.account,
            )
        )
