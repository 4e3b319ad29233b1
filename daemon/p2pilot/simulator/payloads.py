"""Render simulator state in the reference's JSON shapes and field types.

Money, ids and millisecond times are strings (money at the currency's or token's
scale); status, side and other codes are ints; ``registerTime`` is seconds.
"""

from __future__ import annotations

import json
from typing import Any

from p2pilot.simulator.records import (
    CURRENCY_SCALE,
    TOKEN_SCALE,
    Ad,
    Counterparty,
    Merchant,
    Message,
    Order,
    PaymentMethod,
    scaled,
)
from p2pilot.simulator.state import Exchange

JUDGE_INFO = {"autoJudgeUnlockTime": "0", "dissentResult": "", "preDissent": "", "postDissent": ""}
EXTENSION = {"isDelayWithdraw": False, "delayTime": "0", "startTime": ""}


def money(order: Order, value: Any) -> str:
    return scaled(value, CURRENCY_SCALE.get(order.currency, 2))


def tokens(order: Order, value: Any) -> str:
    return scaled(value, TOKEN_SCALE.get(order.token, 4))


def _names(order: Order) -> tuple[str, str]:
    """(sellerRealName, buyerRealName)."""
    if order.seller_is_merchant:
        return order.merchant.real_name, order.counterparty.real_name
    return order.counterparty.real_name, order.merchant.real_name


def transfer_seconds_left(order: Order, now: int) -> str:
    if order.status != 10:
        return "0"
    left = order.created_ms + order.payment_period_min * 60_000 - now
    return str(max(0, left // 1000))


def order_summary(ex: Exchange, order: Order, now: int) -> dict[str, Any]:
    seller, buyer = _names(order)
    unread = str(ex.unread_on_order_list(order))
    return {
        "id": order.id,
        "side": order.side,
        "tokenId": order.token,
        "orderType": "ORIGIN",
        "amount": money(order, order.amount),
        "currencyId": order.currency,
        "price": money(order, order.price),
        "notifyTokenQuantity": tokens(order, order.quantity),
        "notifyTokenId": order.token,
        "fee": "0",
        "targetNickName": order.counterparty.nickname,
        "targetUserId": order.counterparty.user_id,
        "status": order.status,
        "selfUnreadMsgCount": unread,
        "createDate": str(order.created_ms),
        "transferLastSeconds": transfer_seconds_left(order, now),
        "appealLastSeconds": "0",
        "userId": order.merchant.user_id,
        "sellerRealName": seller,
        "buyerRealName": buyer,
        "unreadMsgCount": unread,
        "judgeInfo": dict(JUDGE_INFO),
        "extension": dict(EXTENSION),
        "bulkOrderFlag": False,
    }


def payment_term(method: PaymentMethod) -> dict[str, Any]:
    return {
        "id": method.id,
        "realName": method.real_name,
        "paymentType": method.payment_type,
        "bankName": method.bank_name,
        "branchName": "",
        "accountNo": method.account_no,
        "qrcode": "",
        "visible": 0,
        "payMessage": "",
        "online": "1" if method.online else "0",
        "paymentConfigVo": {
            "paymentType": str(method.payment_type),
            "checkType": 0,
            "sort": 0,
            "paymentName": method.name,
            "addTips": "",
            "itemTips": "",
            "online": 1 if method.online else 0,
            "items": [],
        },
        "ruPaymentPrompt": False,
    }


def order_detail(ex: Exchange, order: Order, now: int) -> dict[str, Any]:
    seller, buyer = _names(order)
    methods = [m for m in order.merchant.payment_methods if m.payment_type != 377]
    chosen = next((m for m in methods if m.id == order.payment_id), None)
    empty_term = {"id": "", "paymentType": 0, "realName": "", "accountNo": ""}
    detail = {
        "id": order.id,
        "side": order.side,
        "itemId": order.item_id,
        "userId": order.merchant.user_id,
        "nickName": order.merchant.nickname,
        "makerUserId": order.merchant.user_id,
        "targetUserId": order.counterparty.user_id,
        "targetNickName": order.counterparty.nickname,
        "targetUserMaskId": order.counterparty.mask_id,
        "targetConnectInformation": "",
        "sellerRealName": seller,
        "buyerRealName": buyer,
        "tokenId": order.token,
        "currencyId": order.currency,
        "price": money(order, order.price),
        "quantity": tokens(order, order.quantity),
        "amount": money(order, order.amount),
        "paymentType": order.payment_type,
        "transferDate": str(order.paid_ms) if order.paid_ms else "0",
        "status": order.status,
        "createDate": str(order.created_ms),
        "updateDate": str(order.updated_ms),
        "paymentTermList": [payment_term(m) for m in methods],
        "confirmedPayTerm": payment_term(chosen) if chosen else dict(empty_term),
        "remark": "",
        "transferLastSeconds": transfer_seconds_left(order, now),
        "appealLastSeconds": "0",
        "appealContent": "",
        "appealType": 0,
        "appealNickName": "",
        "appealUserId": order.appeal_user_id,
        "canAppeal": "Y" if order.status == 20 else "N",
        "makerFee": "",
        "takerFee": "",
        "fee": "0",
        "extension": dict(EXTENSION),
        "orderType": "ORIGIN",
        "notifyTokenId": order.token,
        "notifyTokenQuantity": tokens(order, order.quantity),
        "cancelReason": order.cancel_reason,
        "needBuyerExamineCancel": False,
        "needSellerExamineCancel": False,
        "usedCoupon": False,
        "couponTokenId": "",
        "couponQuantity": "0",
        "realOrderStatus": order.status,
        "targetUserType": "PERSONAL",
        "judgeInfo": dict(JUDGE_INFO),
        "unreadMsgCount": str(ex.unread_on_order_list(order)),
    }
    if not ex.chat.detail_mask_id:
        # The docs' field table and example lack it; only a newer page names it.
        del detail["targetUserMaskId"]
    return detail


def order_message(message: Message) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "accountId": "0" if message.role == "sys" else message.user_id,
        "message": message.text,
        "msgType": message.msg_type,
        "msgCode": 0 if message.role == "user" else 1000,
        "createDate": str(message.created_ms),
        "isRead": 1 if message.read_by_merchant else 0,
        "contentType": message.content_type,
        "roleType": message.role,
        "userId": message.user_id,
        "orderId": message.order_id,
        "msgUuid": message.msg_uuid,
        "nickName": message.nickname,
        "read": 1 if message.read_by_merchant else 0,
        "fileName": message.file_name,
        "onlyForCustomer": 0,
    }


def session_message(message: Message) -> dict[str, Any]:
    content = {
        "content": message.text,
        "msgType": 301 if message.content_type == "str" else 302,
        "fileName": message.file_name,
    }
    return {
        "id": str(message.id),
        "sendUserNickName": "SYSTEM" if message.role == "sys" else message.nickname,
        "contentType": message.content_type,
        "message": json.dumps(content, separators=(",", ":")),
        "createDate": str(message.created_ms),
        # No orderId: a session spans every order with this counterparty (§2.20).
    }


def profile(merchant: Merchant | None, cp: Counterparty | None) -> dict[str, Any]:
    if merchant is not None:
        return {
            "userId": merchant.user_id,
            "accountId": merchant.account_id,
            "nickName": merchant.nickname,
            "defaultNickName": False,
            "isOnline": True,
            "kycLevel": 2,
            "kycCountryCode": "KAZ",
            "email": "d***@mail.kz",
            "mobile": "",
            "realName": merchant.real_name,
            "realNameEn": merchant.real_name,
            "lastLogoutTime": "1763980012",
            "registerTime": "1650000000",
            "recentRate": 98,
            "recentFinishCount": 412,
            "totalFinishCount": 5120,
            "totalFinishSellCount": 3011,
            "totalFinishBuyCount": 2109,
            "averageReleaseTime": "2.41",
            "averageTransferTime": "4.05",
            "accountCreateDays": 1315,
            "firstTradeDays": 1200,
            "recentTradeAmount": "184233.12",
            "totalTradeAmount": "2981211.77",
            "authStatus": 1,
            "blocked": "",
            "goodAppraiseRate": "99.2",
            "goodAppraiseCount": 1803,
            "badAppraiseCount": 14,
            "paymentCount": 3,
            "contactCount": 0,
            "vipLevel": 1,
            "userCancelCountLimit": 1000,
            "paymentRealNameUneditable": True,
            "userType": "PERSONAL",
            "openApiSwitch": 1,
        }
    assert cp is not None
    return {
        "nickName": cp.nickname,
        "defaultNickName": False,
        "isOnline": True,
        "kycLevel": 2,
        "email": "a***@gmail.com",
        "mobile": "",
        "lastLogoutTime": "1763990000",
        "recentRate": cp.recent_rate,
        "totalFinishCount": cp.total_orders,
        "totalFinishSellCount": 3,
        "totalFinishBuyCount": max(0, cp.total_orders - 3),
        "recentFinishCount": 21,
        "averageReleaseTime": "0",
        "averageTransferTime": "3.2",
        "accountCreateDays": cp.account_days,
        "firstTradeDays": cp.account_days - 20,
        "realName": cp.real_name,
        "recentTradeAmount": "2310.5",
        "totalTradeAmount": "6120.75",
        "registerTime": "1729300000",
        "authStatus": 2,
        "kycCountryCode": "RUS",
        "blocked": cp.blocked,
        "goodAppraiseRate": "100",
        "goodAppraiseCount": 40,
        "badAppraiseCount": 0,
        "accountId": str(int(cp.user_id) + 1),
        "paymentCount": 1,
        "contactCount": 0,
        "vipLevel": 0,
        "userCancelCountLimit": 1000,
        "paymentRealNameUneditable": False,
        "userType": "PERSONAL",
        "userId": "",
        "realNameEn": "",
    }


def user_payment(method: PaymentMethod) -> dict[str, Any]:
    term = payment_term(method)
    term.pop("ruPaymentPrompt")
    term.update(
        countNo="",
        paymentTemplateVersion=0,
        hasPaymentTemplateChanged=False,
        realNameVerified=method.payment_type != 377,
        channel="bybit",
        currencyBalance=["EUR", "USD"] if method.payment_type == 377 else [],
    )
    return term


PREFERENCE_KEYS = (
    "hasUnPostAd",
    "isKyc",
    "isEmail",
    "isMobile",
    "hasRegisterTime",
    "registerTimeThreshold",
    "orderFinishNumberDay30",
    "completeRateDay30",
    "nationalLimit",
    "hasOrderFinishNumberDay30",
    "hasCompleteRateDay30",
    "hasNationalLimit",
)


def preferences(ad: Ad) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in PREFERENCE_KEYS:
        value = ad.preferences.get(key, "0" if key not in ("nationalLimit",) else "")
        out[key] = str(value) if key in ("completeRateDay30", "nationalLimit") else int(value or 0)
    return out


def ad_payload(ex: Exchange, ad: Ad, *, online: bool = False) -> dict[str, Any]:
    """An ad as Bybit shows it: in the market list (``online``) or to its owner."""
    payload = _ad_fields(ad)
    if online:
        payload.update(_market_fields())
        return payload
    payload["hiddenReason"] = ""
    payload["paymentTerms"] = _ad_payment_terms(ad)
    payload["symbolInfo"] = _symbol_info(ex, ad)
    return payload


def _market_fields() -> dict[str, Any]:
    """What the market list adds to each ad (the owner's view has none of it)."""
    return {
        "blocked": "N",
        "makerContact": False,
        "authStatus": 1,
        "recommend": False,
        "recommendTag": "",
        "authTag": ["GA"],
        "userType": "PERSONAL",
    }


def _ad_fields(ad: Ad) -> dict[str, Any]:
    """The fields both views of an ad share."""
    token_scale = TOKEN_SCALE.get(ad.token, 4)
    currency_scale = CURRENCY_SCALE.get(ad.currency, 2)
    return {
        "id": ad.id,
        "accountId": str(int(ad.user_id) + 1),
        "userId": ad.user_id,
        "nickName": ad.nickname,
        "tokenId": ad.token,
        "tokenName": ad.token,
        "currencyId": ad.currency,
        "side": ad.side,
        "priceType": ad.price_type,
        "price": scaled(ad.price, currency_scale),
        "premium": ad.premium,
        "quantity": scaled(ad.quantity, token_scale),
        "lastQuantity": scaled(ad.last_quantity, token_scale),
        "frozenQuantity": "0",
        "executedQuantity": scaled(ad.quantity - ad.last_quantity, token_scale),
        "minAmount": scaled(ad.min_amount, currency_scale),
        "maxAmount": scaled(ad.max_amount, currency_scale),
        "remark": ad.remark,
        "status": ad.status,
        "createDate": str(ad.created_ms),
        "updateDate": str(ad.updated_ms),
        "payments": list(ad.payments),
        "paymentPeriod": ad.payment_period,
        "itemType": "ORIGIN",
        "version": 2,
        "feeRate": "0",
        "orderNum": 0,
        "finishNum": 0,
        "recentOrderNum": ad.recent_order_count,
        "recentExecuteRate": ad.recent_execute_rate,
        "fee": "",
        "isOnline": True,
        "lastLogoutTime": "0",
        "tradingPreferenceSet": preferences(ad),
    }


def _ad_payment_terms(ad: Ad) -> list[dict[str, Any]]:
    """The owner's payment methods the ad names, in full."""
    methods = {m.id: m for m in ad.merchant.payment_methods} if ad.merchant else {}
    return [
        {
            "id": pid,
            "realName": methods[pid].real_name,
            "paymentType": methods[pid].payment_type,
            "bankName": methods[pid].bank_name,
            "accountNo": methods[pid].account_no,
            "paymentConfig": {
                "paymentType": methods[pid].payment_type,
                "paymentName": methods[pid].name,
            },
        }
        for pid in ad.payment_ids
        if pid in methods
    ]


def _symbol_info(ex: Exchange, ad: Ad) -> dict[str, Any]:
    """The market's rules for the ad's token and currency, with its reference price."""
    token_scale = TOKEN_SCALE.get(ad.token, 4)
    currency_scale = CURRENCY_SCALE.get(ad.currency, 2)
    reference = ex.reference_price(ad.token, ad.currency)
    return {
        "id": "31",
        "tokenId": ad.token,
        "currencyId": ad.currency,
        "status": 1,
        "itemDownRange": "80",
        "itemUpRange": "120",
        "orderAutoCancelMinute": 15,
        "orderFinishMinute": 10,
        "referencePrice": scaled(reference, currency_scale),
        "currency": {"id": "11", "currencyId": ad.currency, "scale": currency_scale},
        "token": {"id": "1", "tokenId": ad.token, "scale": token_scale, "sequence": 1},
        "buyAd": {"paymentPeriods": [15, 30]},
        "sellAd": {"paymentPeriods": [15, 30]},
    }
