"""The control API under ``/_sim/``: script orders, chat, market and faults; read the log."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from p2pilot.simulator import payloads
from p2pilot.simulator.records import Counterparty, now_ms

if TYPE_CHECKING:
    from p2pilot.simulator.core import Simulator

ORDER_ACTIONS = ("pay", "cancel", "appeal", "release", "status", "messages")


def control(
    sim: Simulator, method: str, path: str, body: dict[str, Any], query: dict[str, str]
) -> tuple[int, Any]:
    """Dispatch one control request; returns (HTTP status, JSON document)."""
    ex = sim.exchange
    parts = [p for p in path.split("/") if p][1:]  # drop "_sim"
    if parts == ["health"]:
        return 200, {"ok": True}
    if parts == ["reset"] and method == "POST":
        sim.reset()
        return 200, {"ok": True}
    if parts == ["requests"]:
        if method == "DELETE":
            sim.log.clear()
            return 200, {"ok": True}
        return 200, sim.log.since(int(query.get("since", "0")))
    if parts and parts[0] == "faults":
        return _faults(sim, method, parts[1:], body)
    if parts == ["limits"] and method == "POST":
        sim.limits.enforce = bool(body.get("enforce", True))
        if "ip_limit" in body:
            sim.limits.ip_limit = int(body["ip_limit"])
        if body.get("lift_bans"):
            sim.limits.lift_bans()
        return 200, {"enforce": sim.limits.enforce, "ip_limit": sim.limits.ip_limit}
    if parts and parts[0] == "chat":
        return _chat(sim, method, path, body)
    if parts == ["market"] and method == "POST":
        side = 1 if str(body.get("side", "sell")) in ("sell", "1") else 0
        ex.set_market(str(body["token"]), str(body["currency"]), side, list(body["ads"]))
        return 200, {"ok": True}
    if parts and parts[0] == "orders":
        return _orders(sim, method, parts[1:], body)
    return 404, {"error": f"no control endpoint {method} {path}"}


def _faults(sim: Simulator, method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any]:
    if method == "DELETE":
        sim.faults.remove(int(parts[0]) if parts else None)
        return 200, {"ok": True}
    if method == "GET":
        return 200, sim.faults.describe()
    fault = sim.faults.add(
        str(body["fault"]),
        paths=body.get("paths"),
        count=body.get("count"),
        delay_ms=body.get("delay_ms"),
        reset_in_ms=body.get("reset_in_ms"),
        api_key=body.get("api_key"),
    )
    return 200, {"id": fault.id}


def _chat(sim: Simulator, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    ex = sim.exchange
    parts = [p for p in path.split("/") if p][2:]  # drop "_sim/chat"
    if parts == ["order_api"] and method == "POST":
        # {"open": false} closes per-order chat as Bybit did (912200387); "answer" picks
        # what the closed routes say: "912200387", "http_404" or "unknown_code".
        closed = str(body.get("answer", "912200387"))
        ex.chat.update({"order_api": "open" if body.get("open", True) else closed})
        return 200, {"open": ex.order_chat_open, **ex.chat.describe()}
    if not parts:
        if method == "POST":
            ex.chat.update(body)
        return 200, ex.chat.describe()
    return 404, {"error": f"no control endpoint {method} {path}"}


def _orders(sim: Simulator, method: str, parts: list[str], body: dict[str, Any]) -> tuple[int, Any]:
    ex = sim.exchange
    if not parts:
        if method == "GET":
            with ex.lock:
                now = now_ms()
                return 200, [payloads.order_detail(ex, o, now) for o in ex.orders.values()]
        merchant = ex.merchant(body.get("api_key"))
        counterparty = None
        if body.get("counterparty"):
            # The same nickname is the same person: same uid and chat session every time.
            nickname = str(body["counterparty"])
            digest = zlib.crc32(nickname.encode())
            counterparty = Counterparty(
                user_id=str(body.get("counterparty_user_id") or 61000000 + digest % 10**6),
                nickname=nickname,
                real_name=str(body.get("counterparty_real_name") or nickname.upper()),
                mask_id=str(body.get("counterparty_mask_id") or f"m{digest:08x}"),
                total_orders=int(body.get("counterparty_orders", 58)),
                blocked=str(body.get("counterparty_blocked", "N")),
            )
        order = ex.create_order(
            merchant=merchant,
            side=0 if str(body.get("side", "sell")) == "buy" else 1,
            amount=Decimal(str(body.get("amount", "8145.00"))),
            price=Decimal(str(body.get("price", "81.45"))),
            token=str(body.get("token", "USDT")),
            currency=str(body.get("currency", "RUB")),
            counterparty=counterparty,
        )
        return 200, {"id": order.id}
    order_id = parts[0]
    if len(parts) == 1 and method == "GET":
        with ex.lock:
            return 200, payloads.order_detail(ex, ex.order(order_id), now_ms())
    action = parts[1] if len(parts) > 1 else ""
    if action == "pay":
        paid = ex.counterparty_pays(order_id)
        if body.get("notify") and sim.bank is not None:
            sim.bank.payment(paid.amount, paid.counterparty.real_name)  # the bank's SMS follows
    elif action == "cancel":
        ex.cancel(order_id)
    elif action == "appeal":
        ex.appeal(order_id)
    elif action == "release":
        ex.counterparty_releases(order_id)
    elif action == "status":
        ex.force_status(order_id, int(body["status"]))
    elif action == "messages":
        via_session = body.get("session")
        message = ex.counterparty_says(
            order_id,
            str(body["text"]),
            via_session=None if via_session is None else bool(via_session),
        )
        return 200, {"id": str(message.id)}
    else:
        return 404, {"error": f"unknown order action {action!r}; known: {ORDER_ACTIONS}"}
    with ex.lock:
        return 200, {"id": order_id, "status": ex.order(order_id).status}
