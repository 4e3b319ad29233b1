"""What phone forwarder apps POST: the text of an SMS or a push, who sent it, and when.

Each app has its own field names; the common ones are all accepted:

- p2pilot's own shape and "Incoming SMS to URL forwarder":
  ``{"text", "from", "received_at" | "receivedStamp" | "sentStamp"}``;
- "SMS Gateway for Android" webhooks: ``{"event", "payload": {"message",
  "phoneNumber", "receivedAt"}}`` (and ``"data"`` instead of ``"payload"``);
- forwarders that name the text ``body``, ``content`` or ``msg`` and the sender
  ``sender``, ``address``, ``phone`` or ``phoneNumber``;
- notification forwarders: ``{"app" | "package", "title", "text"}``: the app is
  the sender, the title is read together with the text;
- a form (``application/x-www-form-urlencoded``) with the same names, or the
  bare text as ``text/plain``.

Times are ISO 8601 or Unix seconds or milliseconds; a time that is missing,
unreadable or implausible (a phone clock far off) is replaced by the time it
arrived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

TEXT_KEYS = ("text", "message", "body", "content", "msg", "sms")
SENDER_KEYS = ("from", "sender", "phoneNumber", "phone_number", "phone", "address", "number")
APP_KEYS = ("app", "package", "packageName", "package_name", "application")
TIME_KEYS = (
    "received_at",
    "receivedAt",
    "receivedStamp",
    "timestamp",
    "time",
    "date",
    "sentStamp",
    "sent_at",
)
NESTED_KEYS = ("payload", "data")
MAX_FIELD = 8192
PAST_LIMIT = timedelta(days=7)  # a forwarder that was offline for a week: still plausible
FUTURE_LIMIT = timedelta(minutes=2)


class BadNotification(ValueError):
    """The request holds no notification text we can take."""


@dataclass(frozen=True, slots=True)
class PostedNotification:
    text: str
    sender: str | None
    sent_at: datetime | None  # the forwarder's time, when it gave a plausible one
    stamp: str | None  # the forwarder's time as given: a retry repeats it


def parse_notification(
    body: bytes, content_type: str | None, *, now: datetime
) -> PostedNotification:
    """Read a forwarder's request body; BadNotification if there is no text in it."""
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadNotification("body is not UTF-8") from exc
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw).items()}
    elif kind == "text/plain":
        fields = {"text": raw}
    else:
        try:
            document = json.loads(raw, parse_float=str, parse_constant=str)
        except (ValueError, RecursionError) as exc:
            raise BadNotification(f"body is not JSON: {str(exc)[:80]}") from exc
        if not isinstance(document, dict):
            raise BadNotification("body must be a JSON object")
        fields = document
    for key in NESTED_KEYS:
        nested = fields.get(key)
        if isinstance(nested, dict):
            fields = {**nested, **{k: v for k, v in fields.items() if k not in nested}}
    text = _first(fields, TEXT_KEYS)
    if text is None or not text.strip():
        raise BadNotification(f"no text: send it as one of {', '.join(TEXT_KEYS)}")
    title = _first(fields, ("title",))
    if title and title.strip() and title.strip() not in text:
        text = f"{title.strip()}\n{text}"
    sender = _first(fields, SENDER_KEYS) or _first(fields, APP_KEYS)
    stamp_key = next((k for k in TIME_KEYS if fields.get(k) not in (None, "")), None)
    stamp = str(fields[stamp_key])[:64] if stamp_key else None
    return PostedNotification(
        text=text[:MAX_FIELD],
        sender=sender.strip()[:200] if sender and sender.strip() else None,
        sent_at=plausible_time(stamp, now=now) if stamp else None,
        stamp=stamp,
    )


def plausible_time(value: str, *, now: datetime) -> datetime | None:
    """ISO 8601, Unix seconds or milliseconds, if within a week before and 2 min after ``now``."""
    at: datetime | None = None
    text = value.strip()
    if text.isdigit() and len(text) <= 16:
        number = int(text)
        seconds = number / 1000 if number > 10**11 else number
        try:
            at = datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    else:
        try:
            at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if at.tzinfo is None:
            # A forwarder without a zone means the phone's local time: unknowable here.
            return None
    if not now - PAST_LIMIT <= at <= now + FUTURE_LIMIT:
        return None
    return at.astimezone(UTC)


def _first(fields: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = fields.get(key)
        if isinstance(value, str) and value.strip():
            return value[:MAX_FIELD]
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)  # a sender given as a number: 900
    return None
