"""The P2P endpoints: one function per path, taking the caller and the parsed body."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from p2pilot.simulator import payloads
from p2pilot.simulator.records import (
    AD_EDIT_LIMIT,
    CHAT_CLOSED,
    CHAT_GONE_UNKNOWN,
    PAGE_SIZE_ERROR,
    PARAM_ERROR,
    PAYMENT_METHOD_ERROR,
    PENDING,
    PRICE_OUT_OF_BAND,
    Ad,
    ExchangeRefusal,
    Merchant,
    now_ms,
)
from p2pilot.simulator.state import Exchange

Body = dict[str, Any]
Handler = Callable[[Exchange, Merchant, Body], Any]


def _int(body: Body, key: str, default: int | str | None = None, *, strings: bool) -> int:
    """A number the endpoint wants as an int (``strings=False``) or as a string."""
    value = body.get(key, default)
    if value is None:
        raise ExchangeRefusal(PARAM_ERROR, f"{key} is null")
    if strings and not isinstance(value, str):
        raise ExchangeRefusal(PARAM_ERROR, f"request parameter error: {key} must be a string")
    if isinstance(value, bool) or not str(value).isdigit():
        raise ExchangeRefusal(PARAM_ERROR, f"request parameter error: {key}")
    return int(value)


def _str(body: Body, key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or value == "":
        raise ExchangeRefusal(PARAM_ERROR, f"request parameter error: {key} is required string")
    return value


def _page(items: list[Any], page: int, size: int) -> list[Any]:
    return items[(page - 1) * size : page * size]


def account_info(ex: Exchange, me: Merchant, body: Body) -> Any:
    return payloads.profile(me, None)


def payment_list(ex: Exchange, me: Merchant, body: Body) -> Any:
    return [payloads.user_payment(m) for m in me.payment_methods]


def _orders(ex: Exchange, me: Merchant, body: Body, pending: bool) -> Any:
    page = _int(body, "page", strings=False)
    size = _int(body, "size", strings=False)
    if size < 1 or size > 30 or page < 1:
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: size must be 1-30")
    now = now_ms()
    with ex.lock:
        rows = [o for o in ex.orders.values() if o.merchant is me]
        if pending:
            rows = [o for o in rows if o.status in PENDING]
        if "status" in body:
            rows = [o for o in rows if o.status == int(body["status"])]
        rows.sort(key=lambda o: (o.created_ms, o.id), reverse=True)
        return {
            "count": len(rows),
            "items": [payloads.order_summary(ex, o, now) for o in _page(rows, page, size)],
        }


def orders(ex: Exchange, me: Merchant, body: Body) -> Any:
    return _orders(ex, me, body, pending=False)


def pending_orders(ex: Exchange, me: Merchant, body: Body) -> Any:
    return _orders(ex, me, body, pending=True)


def order_info(ex: Exchange, me: Merchant, body: Body) -> Any:
    with ex.lock:
        return payloads.order_detail(ex, ex.order(_str(body, "orderId"), me), now_ms())


def counterparty_info(ex: Exchange, me: Merchant, body: Body) -> Any:
    with ex.lock:
        order = ex.order(_str(body, "orderId"), me)
        if _str(body, "originalUid") != order.counterparty.user_id:
            raise ExchangeRefusal(PARAM_ERROR, "originalUid does not match the order")
        return payloads.profile(None, order.counterparty)


def release(ex: Exchange, me: Merchant, body: Body) -> Any:
    ex.merchant_releases(me, _str(body, "orderId"))
    return None


def pay(ex: Exchange, me: Merchant, body: Body) -> Any:
    ex.merchant_pays(me, _str(body, "orderId"), _str(body, "paymentType"), _str(body, "paymentId"))
    return None


def _check_order_chat(ex: Exchange) -> None:
    """Per-order chat as Bybit is taking it away (an ``http_404`` route never gets here)."""
    if ex.chat.order_api == "912200387":
        raise ExchangeRefusal(CHAT_CLOSED, "chat open api close, pls chat with new open api")
    if ex.chat.order_api == "unknown_code":
        raise ExchangeRefusal(CHAT_GONE_UNKNOWN, "service unavailable")


def chat_list(ex: Exchange, me: Merchant, body: Body) -> Any:
    _check_order_chat(ex)
    size = _int(body, "size", strings=True)
    page = _int(body, "currentPage", "1", strings=True) if "currentPage" in body else 1
    if size < 1 or size > 30:
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: size must be 1-30")
    with ex.lock:
        order = ex.order(_str(body, "orderId"), me)
        newest_first = sorted(order.messages, key=lambda m: m.id, reverse=True)
        chunk = _page(newest_first, page, size)
        for message in chunk:
            message.read_by_merchant = True
        return {"result": [payloads.order_message(m) for m in chunk]}


def chat_send(ex: Exchange, me: Merchant, body: Body) -> Any:
    _check_order_chat(ex)
    content_type = _str(body, "contentType")
    if content_type not in ("str", "pic", "pdf", "video"):
        raise ExchangeRefusal(PARAM_ERROR, "contentType must be str, pic, pdf or video")
    ex.merchant_says(
        me,
        _str(body, "orderId"),
        _str(body, "message"),
        content_type,
        str(body.get("msgUuid") or ""),
        str(body.get("fileName") or ""),
    )
    return None


def session_id(ex: Exchange, me: Merchant, body: Body) -> Any:
    return {"sessionId": ex.session_for(me, _str(body, "userMaskId"))}


def _session_messages(ex: Exchange, me: Merchant, body: Body, v1: bool) -> Any:
    if v1 and ex.chat.listpage_v1_empty_with_last_id and ("lastId" in body or "size" in body):
        return {"messages": []}  # as one live report has it: send sessionId + limit only
    limit = _int(body, "limit", 30, strings=False)
    if limit < 1 or limit > 30:
        raise ExchangeRefusal(PARAM_ERROR, "limit must be 1-30")
    last_id = _int(body, "lastId", 0, strings=False)
    with ex.lock:
        messages = [m for o in ex.session_orders(me, _str(body, "sessionId")) for m in o.messages]
        messages.sort(key=lambda m: m.id, reverse=True)
        if last_id:
            messages = [m for m in messages if m.id < last_id]
        chunk = messages[:limit]
        for message in chunk:
            message.read_by_merchant = True
        return {"messages": [payloads.session_message(m) for m in chunk]}


def session_messages_v1(ex: Exchange, me: Merchant, body: Body) -> Any:
    return _session_messages(ex, me, body, v1=True)


def session_send_v1(ex: Exchange, me: Merchant, body: Body) -> Any:
    for key in ("orderId", "sessionId", "contentType", "message"):
        if not body.get(key):
            raise ExchangeRefusal(PARAM_ERROR, f"{key} is null")
    orders_ = ex.session_orders(me, _str(body, "sessionId"))
    if body["orderId"] not in {o.id for o in orders_}:
        raise ExchangeRefusal(PARAM_ERROR, "order does not belong to this session")
    ex.merchant_says(
        me,
        body["orderId"],
        body["message"],
        str(body["contentType"]).lower(),
        "",
        via_session=True,
    )
    return None


def session_list(ex: Exchange, me: Merchant, body: Body) -> Any:
    """``list_v1``: one row per counterparty, latest conversation first [I].

    ``readStatus`` 0 unread / 1 read / 2 all (as clients report it; absent: all);
    ``lastId`` is the ``id`` of the previous page's last row; ``size`` 50 was seen
    refused with 913100009, so more than 30 is refused here (the real limit is unknown).
    """
    size = _int(body, "size", strings=False)
    if size < 1 or size > 30:
        raise ExchangeRefusal(PAGE_SIZE_ERROR, "page size error")
    read_status = _int(body, "readStatus", 2, strings=False)
    if read_status > 2:
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: readStatus")
    last_id = str(_int(body, "lastId", 0, strings=False))
    with ex.lock:
        sessions: dict[str, dict[str, Any]] = {}
        latest: dict[str, int] = {}
        for order in ex.orders.values():
            if order.merchant is not me:
                continue
            mask = order.counterparty.mask_id
            sid = f"sess-{me.user_id}-{mask}"
            entry = sessions.setdefault(
                sid,
                {
                    "sessionName": order.counterparty.nickname,
                    "sessionId": sid,
                    "type": "SINGLE",
                    "id": str(ex.session_number(me, mask)),
                    "unreadCount": "0",
                },
            )
            entry["unreadCount"] = str(int(entry["unreadCount"]) + ex.unread(order))
            last = max((m.created_ms for m in order.messages), default=order.created_ms)
            latest[sid] = max(latest.get(sid, 0), last)
        rows = sorted(sessions.values(), key=lambda e: (-latest[e["sessionId"]], e["id"]))
        if read_status in (0, 1):
            rows = [r for r in rows if (r["unreadCount"] != "0") == (read_status == 0)]
        if last_id != "0":
            after = [i for i, r in enumerate(rows) if r["id"] == last_id]
            rows = rows[after[0] + 1 :] if after else []
        return {"chatSession": rows[:size]}


def old_session_send(ex: Exchange, me: Merchant, body: Body) -> Any:
    orders_ = ex.session_orders(me, _str(body, "sessionId"))
    if not orders_:
        raise ExchangeRefusal(PARAM_ERROR, "session has no order")
    latest = max(orders_, key=lambda o: o.created_ms)
    ex.merchant_says(me, latest.id, _str(body, "message"), _str(body, "contentType").lower(), "")
    return None


def upload(ex: Exchange, me: Merchant, body: Body) -> Any:
    name = str(body.get("filename") or "file.png")
    return {
        "uploadId": None,
        "type": "IMAGE",
        "url": f"/fiat/p2p/oss/showObj/otc/9001/{me.user_id}{int(time.time())}{name}?e=1&token=x=",
    }


# -- ads ---------------------------------------------------------------------------------


def my_ads(ex: Exchange, me: Merchant, body: Body) -> Any:
    page = _int(body, "page", "1", strings=True)
    size = _int(body, "size", "10", strings=True)
    with ex.lock:
        ads = ex.own_ads(me)
        return {
            "count": len(ads),
            "items": [payloads.ad_payload(ex, a) for a in _page(ads, page, size)],
            "hiddenFlag": False,
        }


def ad_info(ex: Exchange, me: Merchant, body: Body) -> Any:
    with ex.lock:
        payload = payloads.ad_payload(ex, ex.ad(me, _str(body, "itemId")))
        payload.pop("hiddenReason", None)
        return payload


def _decimal(body: Body, key: str) -> Decimal:
    try:
        return Decimal(_str(body, key))
    except InvalidOperation as exc:
        raise ExchangeRefusal(PARAM_ERROR, f"request parameter error: {key}") from exc


def _check_ad_fields(ex: Exchange, me: Merchant, body: Body, token: str, currency: str) -> None:
    prefs = body.get("tradingPreferenceSet")
    if not isinstance(prefs, dict) or set(prefs) - set(payloads.PREFERENCE_KEYS):
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: tradingPreferenceSet")
    if any(not isinstance(v, str) for v in prefs.values()):
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: tradingPreferenceSet")
    ids = body.get("paymentIds")
    if not isinstance(ids, list) or not ids or len(ids) > 5:
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: paymentIds")
    if any(not isinstance(i, str) for i in ids):
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: paymentIds")
    mine = {m.id for m in me.payment_methods if m.payment_type != 377}
    if not set(ids) <= mine:
        raise ExchangeRefusal(PAYMENT_METHOD_ERROR, "Error retrieving payment method [912300013]")
    price = _decimal(body, "price")
    reference = ex.reference_price(token, currency)
    low, high = reference * Decimal("0.8"), reference * Decimal("1.2")
    if not low <= price <= high:
        raise ExchangeRefusal(
            PRICE_OUT_OF_BAND,
            f"The fixed price set is lower than {low:.2f} or higher than {high:.2f}",
        )


def create_ad(ex: Exchange, me: Merchant, body: Body) -> Any:
    token, currency = _str(body, "tokenId"), _str(body, "currencyId")
    _check_ad_fields(ex, me, body, token, currency)
    with ex.lock:
        ad = Ad(
            id=ex.new_id("198"),
            merchant=me,
            nickname=me.nickname,
            user_id=me.user_id,
            side=_int(body, "side", strings=True),
            token=token,
            currency=currency,
            price=_decimal(body, "price"),
            quantity=_decimal(body, "quantity"),
            last_quantity=_decimal(body, "quantity"),
            min_amount=_decimal(body, "minAmount"),
            max_amount=_decimal(body, "maxAmount"),
            payments=sorted(
                {str(m.payment_type) for m in me.payment_methods if m.id in body["paymentIds"]}
            ),
            payment_ids=list(body["paymentIds"]),
            remark=str(body.get("remark", "")),
            payment_period=_int(body, "paymentPeriod", strings=True),
            preferences=dict(body["tradingPreferenceSet"]),
        )
        ex.ads[ad.id] = ad
        return {
            "itemId": ad.id,
            "securityRiskToken": "",
            "riskTokenType": "",
            "riskVersion": "",
            "needSecurityRisk": False,
        }


def update_ad(ex: Exchange, me: Merchant, body: Body) -> Any:
    with ex.lock:
        ad = ex.ad(me, _str(body, "id"))
        action = _str(body, "actionType")
        if action not in ("MODIFY", "ACTIVE"):
            raise ExchangeRefusal(PARAM_ERROR, "actionType must be MODIFY or ACTIVE")
        _check_ad_fields(ex, me, body, ad.token, ad.currency)
        now = now_ms()
        ad.edits_ms = [t for t in ad.edits_ms if now - t < 300_000]
        if len(ad.edits_ms) >= 10:
            raise ExchangeRefusal(AD_EDIT_LIMIT, "Too many modifications, try again later")
        ad.edits_ms.append(now)
        ad.price = _decimal(body, "price")
        ad.last_quantity = _decimal(body, "quantity")
        ad.min_amount, ad.max_amount = _decimal(body, "minAmount"), _decimal(body, "maxAmount")
        ad.remark = str(body.get("remark", ""))
        ad.payment_ids = list(body["paymentIds"])
        ad.preferences = dict(body["tradingPreferenceSet"])
        ad.payment_period = _int(body, "paymentPeriod", strings=True)
        if action == "ACTIVE":
            ad.status = 10
        ad.updated_ms = now
        return {
            "securityRiskToken": "",
            "riskTokenType": "",
            "riskVersion": "",
            "needSecurityRisk": False,
        }


def remove_ad(ex: Exchange, me: Merchant, body: Body) -> Any:
    with ex.lock:
        ad = ex.ad(me, _str(body, "itemId"))
        del ex.ads[ad.id]
    return None


def online_ads(ex: Exchange, me: Merchant, body: Body) -> Any:
    token, currency = _str(body, "tokenId"), _str(body, "currencyId")
    side = _int(body, "side", strings=True)
    page = _int(body, "page", "1", strings=True)
    size = _int(body, "size", "10", strings=True)
    if size > 300:
        raise ExchangeRefusal(PARAM_ERROR, "request parameter error: size")
    with ex.lock:
        ads = [
            a
            for a in ex.ads.values()
            if a.token == token and a.currency == currency and a.side == side and a.status == 10
        ]
        # Sellers: cheapest first; buyers: highest first (best price first for the taker).
        ads.sort(key=lambda a: a.price, reverse=side == 0)
        return {
            "count": len(ads),
            "items": [payloads.ad_payload(ex, a, online=True) for a in _page(ads, page, size)],
        }


ROUTES: dict[str, Handler] = {
    "/v5/p2p/user/personal/info": account_info,
    "/v5/p2p/user/payment/list": payment_list,
    "/v5/p2p/order/simplifyList": orders,
    "/v5/p2p/order/pending/simplifyList": pending_orders,
    "/v5/p2p/order/info": order_info,
    "/v5/p2p/user/order/personal/info": counterparty_info,
    "/v5/p2p/order/finish": release,
    "/v5/p2p/order/pay": pay,
    "/v5/p2p/order/message/listpage": chat_list,
    "/v5/p2p/order/message/send": chat_send,
    "/v5/p2p/oss/upload_file": upload,
    "/v5/p2p/chat/session/getSessionId": session_id,
    "/v5/p2p/chat/session/list_v1": session_list,
    "/v5/p2p/chat/session/list": session_list,
    "/v5/p2p/chat/message/listpage_v1": session_messages_v1,
    "/v5/p2p/chat/message/listpage": lambda ex, me, b: _session_messages(ex, me, b, v1=False),
    "/v5/p2p/chat/message/send_v1": session_send_v1,
    "/v5/p2p/chat/message/send": old_session_send,
    "/v5/p2p/item/personal/list": my_ads,
    "/v5/p2p/item/info": ad_info,
    "/v5/p2p/item/create": create_ad,
    "/v5/p2p/item/update": update_ad,
    "/v5/p2p/item/cancel": remove_ad,
    "/v5/p2p/item/online": online_ads,
}
WRITES = frozenset(
    {
        "/v5/p2p/order/finish",
        "/v5/p2p/order/pay",
        "/v5/p2p/order/message/send",
        "/v5/p2p/oss/upload_file",
        "/v5/p2p/chat/message/send_v1",
        "/v5/p2p/chat/message/send",
        "/v5/p2p/item/create",
        "/v5/p2p/item/update",
        "/v5/p2p/item/cancel",
    }
)
ORDER_CHAT = frozenset({"/v5/p2p/order/message/listpage", "/v5/p2p/order/message/send"})


def route(ex: Exchange, path: str) -> Handler | None:
    """The handler for a path, or None where the exchange answers HTTP 404."""
    if path in ORDER_CHAT and ex.chat.order_api == "http_404":
        return None  # removed, as Bybit may remove it
    return ROUTES.get(path)


SHORT_ENVELOPE = frozenset(
    {
        "/v5/p2p/chat/session/getSessionId",
        "/v5/p2p/chat/session/list_v1",
        "/v5/p2p/chat/message/listpage_v1",
        "/v5/p2p/chat/message/send_v1",
    }
)


def parse_json(raw: bytes) -> Body:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise ExchangeRefusal(PARAM_ERROR, "request body is not JSON") from exc
    if not isinstance(body, dict):
        raise ExchangeRefusal(PARAM_ERROR, "request body must be an object")
    return body
