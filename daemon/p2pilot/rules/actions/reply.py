"""Reply in the order's chat: the text (and a file), once, recognisable if sent again.

pending -> sent -> succeeded | failed, or back to pending on an answer that did
nothing. A reply's ``msgUuid`` derives from its ledger key, so after a crash in
``sent`` the chat says whether it went out; only if it did not is it sent again,
with the same ``msgUuid``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from p2pilot.crashpoints import crash_point
from p2pilot.exchange.errors import ExchangeError
from p2pilot.metrics import ORDER_TO_REPLY
from p2pilot.rules.actions.base import ActionEnv, ActionRun
from p2pilot.rules.actions.steps import MAX_ATTEMPTS
from p2pilot.rules.model import ReplyAction
from p2pilot.store.ledger import ActionState
from p2pilot.store.orders import FINAL_CODES

MSG_UUID_NAMESPACE = uuid.UUID("6f1d2a0e-7a57-4a43-9a0c-2b8e5c9a1f10")
ATTACHMENT_KINDS = {".jpg": "pic", ".jpeg": "pic", ".png": "pic", ".pdf": "pdf", ".mp4": "video"}


def msg_uuid_for(key: str) -> str:
    """The chat ``msgUuid`` of a reply: derived from its ledger key, so a resend is recognisable."""
    return uuid.uuid5(MSG_UUID_NAMESPACE, key).hex


class ReplyHandler:
    """Sends ``reply`` actions; reconciles against the chat."""

    redo_pending = True

    def __init__(self, env: ActionEnv) -> None:
        self.env = env
        self.steps = env.steps

    def execute(self, run: ActionRun[ReplyAction]) -> None:
        record, ctx = run.record, run.ctx
        if ctx.order is None:
            self.steps.settle(record, ActionState.SKIPPED, error="reply needs an order")
            return
        text = run.action.template.render(ctx.template_values())
        msg_uuid = msg_uuid_for(record.key)
        detail = {"text": text, "msg_uuid": msg_uuid}
        if run.action.attachment is not None:
            detail["attachment"] = str(run.action.attachment)
        if run.account.dry_run:
            self.steps.dry_run(record, run.log, detail)
            return
        self._send(run, detail)

    def reconcile(self, run: ActionRun[ReplyAction]) -> None:
        record, ctx, account = run.record, run.ctx, run.account
        if ctx.order is None:
            self.steps.settle(record, ActionState.FAILED, error="order no longer stored")
            return
        msg_uuid = record.detail.get("msg_uuid") or msg_uuid_for(record.key)
        text = record.detail.get("text") or run.action.template.render(ctx.template_values())
        try:
            found = account.chat.find_sent(
                ctx.order.chat_target,
                msg_uuid=msg_uuid,
                text=text,
                our_nickname=account.nickname,
                since=record.created_at,
            )
        except ExchangeError as exc:
            run.log.warning("reply.reconcile_failed", error=str(exc))
            if ctx.order.status in FINAL_CODES:
                # Nobody is waiting for this message any more, and its chat may never
                # be readable (an order seen only in a list has no counterparty mask
                # id for session chat): close the row rather than retry it forever.
                self.steps.settle(
                    record,
                    ActionState.FAILED,
                    error=f"order finished; whether the reply went out is unknown: {exc}",
                )
            return  # stays open; the retry pass or the next start tries again
        if found:
            self.steps.settle(record, ActionState.SUCCEEDED)
            run.log.info("reply.confirmed_in_chat", msg_uuid=msg_uuid)
            return
        if record.attempts >= MAX_ATTEMPTS:
            self.steps.settle(record, ActionState.FAILED, error="not in the chat after retries")
            return
        self._send(run, {"text": text, "msg_uuid": msg_uuid})

    def _send(self, run: ActionRun[ReplyAction], detail: dict[str, Any]) -> None:
        record, order, account = run.record, run.ctx.order, run.account
        assert order is not None
        self.steps.mark_sent(record, detail)
        crash_point("reply.after_sent")
        try:
            api = account.chat.send(
                order.chat_target, text=detail["text"], msg_uuid=detail["msg_uuid"]
            )
        except ExchangeError as exc:
            self.steps.outcome(record, exc, run.log)
            return
        crash_point("reply.after_call")
        attachment = detail.get("attachment")
        if attachment:
            error = self._send_attachment(run, Path(attachment))
            if error is not None:
                self.steps.settle(
                    record, ActionState.FAILED, error=f"text sent; attachment: {error}"
                )
                run.log.warning("reply.attachment_failed", error=error)
                return
        self.steps.settle(record, ActionState.SUCCEEDED, detail={"api": str(api)})
        ORDER_TO_REPLY.observe(max(0.0, (self.env.clock() - order.created_at).total_seconds()))
        run.log.info("reply.sent", msg_uuid=detail["msg_uuid"], api=str(api))

    def _send_attachment(self, run: ActionRun[ReplyAction], path: Path) -> str | None:
        """Upload a file and post it after the text; the error, or None when it went out."""
        order, account = run.ctx.order, run.account
        assert order is not None
        try:
            data = path.read_bytes()
        except OSError as exc:
            return f"cannot read {path.name}: {exc.strerror}"
        kind = ATTACHMENT_KINDS.get(path.suffix.lower())
        if kind is None:
            return f"{path.suffix or 'no extension'}: Bybit takes jpg, png, pdf or mp4"
        try:
            uploaded = account.client.upload_chat_file(data=data, filename=path.name)
            account.chat.send(
                order.chat_target,
                text=uploaded.url,
                msg_uuid=msg_uuid_for(f"{run.record.key}:file"),
                content_type=kind,
                file_name=path.name,
            )
        except ExchangeError as exc:
            return str(exc)
        return None
