"""Notifications through apprise (Telegram, e-mail, Slack, ...)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import apprise


@dataclass(frozen=True, slots=True)
class NotifyResult:
    ok: bool
    error: str | None


def redact_notify_url(url: str) -> str:
    """Scheme and host only: apprise URLs carry tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def send_notification(urls: Sequence[str], *, title: str, body: str) -> NotifyResult:
    """Send one notification to every URL; ok when all of them took it."""
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            return NotifyResult(False, f"unsupported notification URL {redact_notify_url(url)}")
    # apprise logs request URLs (with tokens) at INFO/DEBUG; keep it to errors.
    logger = logging.getLogger("apprise")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        delivered = notifier.notify(title=title, body=body)
    finally:
        logger.setLevel(previous)
    return NotifyResult(bool(delivered), None if delivered else "notification not delivered")
