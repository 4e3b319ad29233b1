"""What an alert says and which buttons it carries, from one outbox event.

Pure functions of the event: the bot sends or edits the message. Callback data
is short (Telegram allows 64 bytes): a verb letter and its arguments, e.g.
``a:ORDER`` (approve), ``h:ORDER`` (hold), ``c:ORDER`` (show chat),
``p:ORDER`` (confirm payment), ``t:PAYMENT:ORDER`` (attach), ``i:PAYMENT`` (ignore).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from p2pilot.store.events import EventRecord

MAX_TEXT = 4000  # Telegram's limit is 4096 characters a message
MAX_SUGGESTED = 3  # attach buttons for an unmatched payment

Button = tuple[str, str]  # (label, callback data)


@dataclass(frozen=True, slots=True)
class Alert:
    """One message: where it belongs (``subject``), its text and its button rows."""

    subject: str
    text: str
    buttons: list[list[Button]] = field(default_factory=list)


def subject_of(event: EventRecord) -> str:
    """An order's events share one message; any other event has its own."""
    if event.order_pk is not None:
        return f"order:{event.order_pk}"
    return f"event:{event.id}"


def _order_line(payload: dict[str, Any]) -> str:
    return (
        f"Order {payload.get('order_id')} ({payload.get('account')}): "
        f"{payload.get('amount')} {payload.get('currency')} for "
        f"{payload.get('quantity') or '?'} {payload.get('token') or ''} "
        f"from {payload.get('counterparty') or 'unknown'}"
    ).strip()


def _guards(payload: dict[str, Any]) -> list[str]:
    lines = []
    for guard in payload.get("guards") or []:
        if isinstance(guard, dict):
            mark = "ok" if guard.get("ok") else "NO"
            lines.append(f"  {mark} {guard.get('guard')}: {guard.get('detail') or ''}".rstrip())
    return lines


def _release_pending(event: EventRecord) -> Alert:
    payload = event.payload
    order_id = str(payload.get("order_id"))
    lines = ["Release waiting for approval", _order_line(payload)]
    evidence = payload.get("evidence")
    if isinstance(evidence, dict):
        lines.append(
            f"Evidence: {evidence.get('amount')} {evidence.get('currency')} from "
            f"{evidence.get('payer_name') or 'unknown'} ({evidence.get('source')}, "
            f"ref {evidence.get('reference') or '-'})"
        )
    lines += _guards(payload)
    buttons = [
        [("Approve", f"a:{order_id}"), ("Hold", f"h:{order_id}")],
        [("Show chat", f"c:{order_id}")],
    ]
    return Alert(subject_of(event), "\n".join(lines), buttons)


def _paid_unconfirmed(event: EventRecord) -> Alert:
    payload = event.payload
    order_id = str(payload.get("order_id"))
    lines = ["Buyer says paid, no payment seen yet", _order_line(payload)]
    buttons = [[("Confirm payment", f"p:{order_id}"), ("Show chat", f"c:{order_id}")]]
    return Alert(subject_of(event), "\n".join(lines), buttons)


def _unmatched(event: EventRecord) -> Alert:
    payload = event.payload
    payment = payload.get("payment") if isinstance(payload.get("payment"), dict) else {}
    assert isinstance(payment, dict)
    payment_id = payment.get("id")
    lines = [
        f"Payment matches no order ({payload.get('reason') or 'unknown'})",
        f"{payment.get('amount')} {payment.get('currency')} from "
        f"{payment.get('payer_name') or 'unknown'}, ref {payment.get('reference') or '-'}",
    ]
    if payload.get("detail"):
        lines.append(str(payload["detail"]))
    buttons: list[list[Button]] = []
    if payment_id is not None:
        suggested = [str(o) for o in payload.get("orders") or []][:MAX_SUGGESTED]
        buttons = [[(f"Attach to {o}", f"t:{payment_id}:{o}")] for o in suggested]
        buttons.append([("Ignore", f"i:{payment_id}")])
    return Alert(subject_of(event), "\n".join(lines), buttons)


def _plain(event: EventRecord) -> Alert:
    payload = event.payload
    if payload.get("order_id") and payload.get("amount") is not None:
        body = _order_line(payload)
    else:
        body = str(payload.get("message") or payload.get("reason") or "")
    title = {
        "order.appeal": "Appeal opened",
        "order.anomaly": "Anomaly: the exchange reported something impossible",
        "daemon.alert": f"Daemon alert ({payload.get('account')})",
        "order.completed": "Completed (released)",
        "order.cancelled": "Cancelled",
        "order.release_held": f"Held by {payload.get('operator')}: {payload.get('reason')}",
    }.get(event.type, event.type)
    return Alert(subject_of(event), f"{title}\n{body}".strip())


def render(event: EventRecord) -> Alert:
    """The alert for this event (an order's later events replace its buttons)."""
    builders = {
        "order.release_pending": _release_pending,
        "order.paid_unconfirmed": _paid_unconfirmed,
        "payment.unmatched": _unmatched,
    }
    alert = builders.get(event.type, _plain)(event)
    if len(alert.text) > MAX_TEXT:
        alert = Alert(alert.subject, alert.text[: MAX_TEXT - 1] + "…", alert.buttons)
    return alert


def parse_callback(data: str) -> tuple[str, list[str]] | None:
    """``("a", ["ORDER"])`` from ``"a:ORDER"``; None for anything malformed."""
    verb, _, rest = data.partition(":")
    arity = {"a": 1, "h": 1, "c": 1, "p": 1, "t": 2, "i": 1}
    if verb not in arity or not rest:
        return None
    args = rest.split(":")
    if len(args) != arity[verb] or not all(args):
        return None
    return verb, args
