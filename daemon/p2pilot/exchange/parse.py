"""Turn the exchange's JSON payloads into the typed records of ``p2pilot.records``.

Field-level reading (numbers, money, times, enums) and envelope unwrapping live in
``fields.py``; this module knows which field of which endpoint becomes which record
attribute, and what is required. A wrong shape raises ``MalformedResponse``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from p2pilot.exchange import requests as paths
from p2pilot.exchange.errors import MalformedResponse
from p2pilot.exchange.fields import Reader, is_unset
from p2pilot.exchange.fields import malformed as malformed  # re-exported
from p2pilot.exchange.fields import unwrap as unwrap  # re-exported: envelope unwrapping
from p2pilot.exchange.recent import ParsedRows
from p2pilot.records import (
    Ad,
    AdStatus,
    ChatApi,
    ChatMessage,
    ChatRole,
    ChatSession,
    OnlineAd,
    OrderDetail,
    OrderStatus,
    OrderSummary,
    Page,
    PaymentTerm,
    PriceType,
    Side,
    TradingPreferences,
    UploadedFile,
    UserProfile,
)

T = TypeVar("T")
_ROLES = {role.value: role for role in ChatRole}


def _result_object(payload: object, endpoint: str) -> Reader:
    return Reader(unwrap(payload, endpoint), endpoint, "result")


def _page(
    payload: object,
    endpoint: str,
    item: Callable[[Reader], T],
    reuse: ParsedRows[T] | None = None,
) -> Page[T]:
    result = _result_object(payload, endpoint)
    count = result.integer("count")
    items: list[T] = []
    unreadable: list[str] = []
    for row in result.items("items"):
        known = reuse.get(row.data) if reuse is not None else None
        if known is not None:
            items.append(known)
            continue
        try:
            parsed = item(row)
            items.append(parsed)
            if reuse is not None:
                reuse.put(row.data, parsed)
        except MalformedResponse as exc:
            row_id = row.data.get("id")
            unreadable.append(f"{exc.message} (id {row_id!r})" if row_id else exc.message)
    return Page(count=count, items=items, unreadable=tuple(unreadable))


# ---- users and payment methods ------------------------------------------------


def user_profile(r: Reader) -> UserProfile:
    """Own account (``user/personal/info``) or counterparty (``user/order/personal/info``)."""
    return UserProfile(
        user_id=r.text("userId"),
        nickname=r.ident("nickName"),
        real_name=r.text("realName"),
        kyc_level=r.text("kycLevel"),
        kyc_country=r.text("kycCountryCode"),
        recent_rate=r.opt_decimal("recentRate"),
        recent_finish_count=r.count("recentFinishCount"),
        total_finish_count=r.count("totalFinishCount"),
        account_create_days=r.count("accountCreateDays"),
        first_trade_days=r.count("firstTradeDays"),
        good_appraise_rate=r.opt_decimal("goodAppraiseRate"),
        auth_status=r.count("authStatus"),
        blocked=r.text("blocked"),
        registered_at=r.opt_time_s("registerTime"),
        is_online=r.flag("isOnline"),
        raw=r.data,
    )


def payment_term(r: Reader) -> PaymentTerm:
    """Either flavour: order/user (``paymentConfigVo``) or ad (``paymentConfig``)."""
    config = r.obj("paymentConfigVo") or r.obj("paymentConfig")
    return PaymentTerm(
        id=r.ident("id"),
        payment_type=r.integer("paymentType"),
        name=config.text("paymentName") if config else "",
        real_name=r.text("realName"),
        bank_name=r.text("bankName"),
        account_no=r.text("accountNo"),
        online=r.flag("online"),
    )


def parse_user_profile(payload: object, endpoint: str = paths.ACCOUNT_INFO) -> UserProfile:
    """``user/personal/info`` or ``user/order/personal/info``."""
    return user_profile(_result_object(payload, endpoint))


def parse_payment_terms(
    payload: object, endpoint: str = paths.PAYMENT_METHODS
) -> list[PaymentTerm]:
    """``user/payment/list``: ``result`` is a bare array."""
    result = unwrap(payload, endpoint)
    holder = Reader({"result": result}, endpoint, "response")
    return [payment_term(row) for row in holder.items("result")]


# ---- orders ---------------------------------------------------------------------


def order_summary(r: Reader) -> OrderSummary:
    """One item of ``order/simplifyList`` or ``order/pending/simplifyList``."""
    return OrderSummary(
        id=r.ident("id"),
        side=r.enum("side", Side),
        status=r.enum("status", OrderStatus),
        token=r.ident("tokenId"),
        currency=r.ident("currencyId"),
        amount=r.decimal("amount"),
        price=r.decimal("price"),
        quantity=r.opt_decimal("notifyTokenQuantity"),
        fee=r.opt_decimal("fee"),
        counterparty_nickname=r.text("targetNickName"),
        counterparty_user_id=r.text("targetUserId"),
        user_id=r.text("userId"),
        seller_real_name=r.text("sellerRealName"),
        buyer_real_name=r.text("buyerRealName"),
        created_at=r.time_ms("createDate"),
        transfer_seconds_left=r.opt_int("transferLastSeconds", None),
        unread_count=r.count("unreadMsgCount"),
        self_unread_count=r.count("selfUnreadMsgCount"),
        raw=r.data,
    )


def _chosen_term(r: Reader, key: str) -> PaymentTerm | None:
    term = r.obj(key)
    if term is None or is_unset(term.data.get("id")) or is_unset(term.data.get("paymentType")):
        return None
    if term.data.get("paymentType") == 0:
        return None
    return payment_term(term)


def confirmed_payment(r: Reader, terms: list[PaymentTerm]) -> PaymentTerm | None:
    """The method the buyer used: ``confirmedPayTerm``, else ``paymentTermResult``, else
    the seller's listed method whose type matches the order's ``paymentType`` (§6 Q15).

    None while nothing says which method was used (``paymentType`` 0 and no term).
    """
    chosen = _chosen_term(r, "confirmedPayTerm") or _chosen_term(r, "paymentTermResult")
    if chosen is not None:
        listed = next((term for term in terms if term.id == chosen.id), None)
        if not chosen.name and listed is not None:
            # The chosen term often comes trimmed; the seller's list names the method.
            chosen = dataclasses.replace(chosen, name=listed.name)
        return chosen
    used = r.opt_int("paymentType", 0)
    if used:
        return next((term for term in terms if term.payment_type == used), None)
    return None


def stored_payment(raw: dict[str, Any]) -> PaymentTerm | None:
    """:func:`confirmed_payment` of an ``order/info`` result as the store keeps it (``raw``)."""
    r = Reader(raw, paths.ORDER_DETAIL, "stored order")
    return confirmed_payment(r, [payment_term(row) for row in r.items("paymentTermList")])


def order_detail(r: Reader) -> OrderDetail:
    """``order/info``'s result."""
    terms = [payment_term(row) for row in r.items("paymentTermList")]
    fee = r.opt_decimal("fee")
    appeal_user = r.text("appealUserId")
    return OrderDetail(
        id=r.ident("id"),
        side=r.enum("side", Side),
        status=r.enum("status", OrderStatus),
        token=r.ident("tokenId"),
        currency=r.ident("currencyId"),
        amount=r.decimal("amount"),
        price=r.decimal("price"),
        quantity=r.decimal("quantity"),
        fee=fee,
        counterparty_nickname=r.text("targetNickName"),
        counterparty_user_id=r.text("targetUserId"),
        counterparty_mask_id=r.text("targetUserMaskId"),
        user_id=r.text("userId"),
        maker_user_id=r.text("makerUserId"),
        item_id=r.text("itemId"),
        seller_real_name=r.text("sellerRealName"),
        buyer_real_name=r.text("buyerRealName"),
        payment_type=r.opt_int("paymentType", 0) or 0,
        payment_terms=terms,
        confirmed_payment=confirmed_payment(r, terms),
        created_at=r.time_ms("createDate"),
        updated_at=r.opt_time_ms("updateDate"),
        paid_at=r.opt_time_ms("transferDate"),
        transfer_seconds_left=r.opt_int("transferLastSeconds", None),
        can_appeal=r.flag("canAppeal"),
        appeal_user_id="" if appeal_user == "0" else appeal_user,
        cancel_reason=r.text("cancelReason"),
        unread_count=r.count("unreadMsgCount"),
        raw=r.data,
    )


def parse_order_page(
    payload: object,
    endpoint: str = paths.ORDERS,
    reuse: ParsedRows[OrderSummary] | None = None,
) -> Page[OrderSummary]:
    """``order/simplifyList`` or ``order/pending/simplifyList``."""
    return _page(payload, endpoint, order_summary, reuse)


def parse_order_detail(payload: object, endpoint: str = paths.ORDER_DETAIL) -> OrderDetail:
    """``order/info``."""
    return order_detail(_result_object(payload, endpoint))


# ---- chat -----------------------------------------------------------------------


def order_chat_message(r: Reader) -> ChatMessage:
    """One message of the per-order chat (``order/message/listpage``)."""
    return ChatMessage(
        id=r.ident("id"),
        order_id=r.text("orderId"),
        sender_user_id=r.text("userId"),
        sender_nickname=r.text("nickName"),
        text=r.text("message"),
        content_type=r.text("contentType", "str").lower(),
        msg_type=r.count("msgType"),
        role=_ROLES.get(r.text("roleType").lower(), ChatRole.UNKNOWN),
        msg_uuid=r.text("msgUuid"),
        file_name=r.text("fileName"),
        created_at=r.time_ms("createDate"),
        api=ChatApi.ORDER,
        raw=r.data,
    )


def _session_body(r: Reader) -> Reader:
    """The decoded ``message`` of a session-chat row: a JSON string of
    ``{"content","msgType","fileName"}`` (§2.20); plain text is taken as the content."""
    value = r.data.get("message")
    if isinstance(value, dict):
        return Reader(value, r.endpoint, f"{r.where}.message")
    text = r.text("message")
    if text.lstrip().startswith("{"):
        try:
            decoded = json.loads(text)
        except ValueError:
            raise r.fail("message", "is not valid JSON") from None
        return Reader(decoded, r.endpoint, f"{r.where}.message")
    return Reader({"content": text}, r.endpoint, f"{r.where}.message")


def session_chat_message(r: Reader, order_id: str = "") -> ChatMessage:
    """One message of a session chat (``listpage_v1``).

    The payload names no order unless a row carries ``orderId``; otherwise
    ``order_id`` is the caller's hint (``""``: the chat job attributes it later).
    """
    body = _session_body(r)
    nickname = r.text("sendUserNickName") or r.text("nickName")
    return ChatMessage(
        id=r.ident("id"),
        order_id=r.text("orderId") or order_id,
        sender_user_id=r.text("userId"),
        sender_nickname=nickname,
        text=body.text("content"),
        content_type=r.text("contentType", "str").lower(),
        msg_type=body.count("msgType"),
        role=ChatRole.SYSTEM if nickname.upper() == "SYSTEM" else ChatRole.USER,
        msg_uuid=r.text("msgUuid"),
        file_name=body.text("fileName"),
        created_at=r.time_ms("createDate"),
        api=ChatApi.SESSION,
        raw=r.data,
    )


def parse_chat_messages(payload: object, endpoint: str = paths.CHAT_MESSAGES) -> list[ChatMessage]:
    """Per-order chat: ``result.result[]`` (also a bare ``result[]``, older docs)."""
    result = unwrap(payload, endpoint, result_required=False)
    holder = Reader({"result": result}, endpoint, "response")
    if isinstance(result, dict):
        holder = Reader(result, endpoint, "result")
    return [order_chat_message(row) for row in holder.items("result")]


def parse_session_messages(
    payload: object, endpoint: str = paths.SESSION_MESSAGES, *, order_id: str = ""
) -> list[ChatMessage]:
    """Session chat: ``result.messages[]``, newest first as the exchange sends them."""
    result = unwrap(payload, endpoint, result_required=False)
    if result is None:
        return []
    holder = Reader(result, endpoint, "result")
    return [session_chat_message(row, order_id) for row in holder.items("messages")]


def parse_chat_sessions(payload: object, endpoint: str = paths.CHAT_SESSIONS) -> list[ChatSession]:
    """``chat/session/list`` (and ``list_v1``): ``result.chatSession[]``."""
    result = unwrap(payload, endpoint, result_required=False)
    if result is None:
        return []
    rows = Reader(result, endpoint, "result").items("chatSession")
    return [
        ChatSession(
            session_id=row.ident("sessionId"),
            name=row.text("sessionName"),
            unread_count=row.count("unreadCount"),
            id=row.text("id"),
        )
        for row in rows
    ]


def parse_session_id(payload: object, endpoint: str = paths.CHAT_SESSION_ID) -> str:
    """``getSessionId``: ``result.sessionId``."""
    return _result_object(payload, endpoint).ident("sessionId")


def parse_uploaded_file(payload: object, endpoint: str = paths.UPLOAD_CHAT_FILE) -> UploadedFile:
    """``oss/upload_file``: a relative URL and a type."""
    r = _result_object(payload, endpoint)
    return UploadedFile(url=r.ident("url"), type=r.text("type"))


# ---- ads ------------------------------------------------------------------------


def trading_preferences(r: Reader | None) -> TradingPreferences:
    """``tradingPreferenceSet``; missing keys take the record's defaults."""
    if r is None:
        return TradingPreferences()
    return TradingPreferences(
        has_unposted_ad=r.flag("hasUnPostAd"),
        is_kyc=r.flag("isKyc"),
        is_email=r.flag("isEmail"),
        is_mobile=r.flag("isMobile"),
        has_register_time=r.flag("hasRegisterTime"),
        register_time_threshold=r.count("registerTimeThreshold"),
        has_order_finish_number_day30=r.flag("hasOrderFinishNumberDay30"),
        order_finish_number_day30=r.count("orderFinishNumberDay30"),
        has_complete_rate_day30=r.flag("hasCompleteRateDay30"),
        complete_rate_day30=r.text("completeRateDay30", "0") or "0",
        has_national_limit=r.flag("hasNationalLimit"),
        national_limit=r.text("nationalLimit"),
    )


def _price_band(r: Reader) -> tuple[Decimal, Decimal] | None:
    symbol = r.obj("symbolInfo")
    if symbol is None:
        return None
    low, high = symbol.opt_decimal("itemDownRange"), symbol.opt_decimal("itemUpRange")
    reference = symbol.opt_decimal("referencePrice")
    if low is None or high is None or reference is None:
        return None  # the percentages alone say nothing without the reference price
    return (reference * low / 100, reference * high / 100)


def _payment_types(r: Reader) -> list[str]:
    values = r.list_of("payments")
    if any(isinstance(v, bool) or not isinstance(v, str | int) for v in values):
        raise r.fail("payments", "must hold payment type ids")
    return [str(v) for v in values]


def ad(r: Reader) -> Ad:
    """One of our own ads (``item/personal/list`` item or ``item/info``)."""
    price_type = r.enum("priceType", PriceType)
    premium = r.opt_decimal("premium")
    return Ad(
        id=r.ident("id"),
        user_id=r.text("userId"),
        side=r.enum("side", Side),
        token=r.ident("tokenId"),
        currency=r.ident("currencyId"),
        price_type=price_type,
        price=r.decimal("price"),
        premium=premium if price_type is PriceType.FLOATING else None,
        quantity=r.decimal("quantity"),
        last_quantity=r.decimal("lastQuantity"),
        frozen_quantity=r.opt_decimal("frozenQuantity") or Decimal(0),
        executed_quantity=r.opt_decimal("executedQuantity") or Decimal(0),
        min_amount=r.decimal("minAmount"),
        max_amount=r.decimal("maxAmount"),
        remark=r.text("remark"),
        status=r.enum("status", AdStatus),
        payment_types=_payment_types(r),
        payment_terms=[payment_term(row) for row in r.items("paymentTerms")],
        payment_period=r.count("paymentPeriod"),
        trading_preferences=trading_preferences(r.obj("tradingPreferenceSet")),
        price_band=_price_band(r),
        created_at=r.opt_time_ms("createDate"),
        updated_at=r.opt_time_ms("updateDate"),
        raw=r.data,
    )


def online_ad(r: Reader) -> OnlineAd:
    """One ad of the public order book (``item/online``)."""
    return OnlineAd(
        id=r.ident("id"),
        user_id=r.text("userId"),
        nickname=r.text("nickName"),
        side=r.enum("side", Side),
        token=r.ident("tokenId"),
        currency=r.ident("currencyId"),
        price=r.decimal("price"),
        last_quantity=r.decimal("lastQuantity"),
        min_amount=r.decimal("minAmount"),
        max_amount=r.decimal("maxAmount"),
        payment_types=_payment_types(r),
        recent_order_count=r.count("recentOrderNum"),
        recent_execute_rate=r.opt_decimal("recentExecuteRate"),
        is_online=r.flag("isOnline"),
        raw=r.data,
    )


def parse_ad_page(payload: object, endpoint: str = paths.MY_ADS) -> Page[Ad]:
    """``item/personal/list``."""
    return _page(payload, endpoint, ad)


def parse_ad(payload: object, endpoint: str = paths.AD_DETAIL) -> Ad:
    """``item/info``."""
    return ad(_result_object(payload, endpoint))


def parse_online_ad_page(payload: object, endpoint: str = paths.ONLINE_ADS) -> Page[OnlineAd]:
    """``item/online``."""
    return _page(payload, endpoint, online_ad)


def parse_created_ad_id(payload: object, endpoint: str = paths.CREATE_AD) -> str:
    """``item/create``: ``result.itemId``."""
    return _result_object(payload, endpoint).ident("itemId")


def check_action(payload: object, endpoint: str) -> None:
    """Action endpoints (release, pay, send, cancel, update): a success envelope, any result."""
    unwrap(payload, endpoint, result_required=False)
