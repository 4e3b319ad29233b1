"""Notifications through apprise (Telegram, e-mail, Slack, ...).

pending -> sent -> succeeded | failed. Nothing says whether a notification
interrupted in ``sent`` went out, and a second one is noise: it becomes unknown.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from p2pilot.rules.actions.base import ActionEnv, ActionRun
from p2pilot.rules.model import NotifyAction
from p2pilot.store.ledger import ActionState


@dataclass(frozen=True, slots=True)
class NotifyResult:
    ok: bool
    error: str | None


def redact_url(url: str) -> str:
    """Scheme and host only: apprise and webhook URLs carry tokens."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}"


def send_notification(urls: Sequence[str], *, title: str, body: str) -> NotifyResult:
    """Send one notification to every URL; ok when all of them took it."""
    import apprise  # here, not at the top: every CLI process would pay for it

    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            return NotifyResult(False, f"unsupported notification URL {redact_url(url)}")
    # apprise logs request URLs (with tokens) at INFO/DEBUG; keep it to errors.
    logger = logging.getLogger("apprise")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        delivered = notifier.notify(title=title, body=body)
    finally:
        logger.setLevel(previous)
    return NotifyResult(bool(delivered), None if delivered else "notification not delivered")


class NotifyHandler:
    """Sends ``notify`` actions; an interrupted one is reported unknown, not resent."""

    redo_pending = True

    def __init__(self, env: ActionEnv) -> None:
        self.steps = env.steps

    def execute(self, run: ActionRun[NotifyAction]) -> None:
        action, ctx = run.action, run.ctx
        values = ctx.template_values()
        title = action.title.render(values) if action.title else f"p2pilot: {ctx.event.type}"
        body = (
            action.body.render(values)
            if action.body
            else json.dumps(ctx.event.payload, ensure_ascii=False, default=str)
        )
        if run.account.dry_run:
            self.steps.dry_run(run.record, run.log, {"title": title})
            return
        self.steps.mark_sent(run.record, {"title": title})
        result = send_notification(action.urls, title=title, body=body)
        self.steps.settle(
            run.record,
            ActionState.SUCCEEDED if result.ok else ActionState.FAILED,
            error=result.error,
        )

    def reconcile(self, run: ActionRun[NotifyAction]) -> None:
        self.steps.unknown_after_restart(run.record, run.log)
