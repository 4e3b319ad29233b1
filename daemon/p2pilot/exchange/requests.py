"""Endpoint paths and request bodies with the exact JSON types each endpoint wants.

pybit sends whatever Python types it is given and some endpoints reject the wrong
JSON type with 10001 (reference §1.2, §6 Q6/Q7), so every body is built here:
order lists take integer ``page``/``size``, ``item/online`` and ``order/pay`` take
strings only, ad create/update take strings everywhere (also inside
``tradingPreferenceSet``) and ``paymentIds`` as a list of strings.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from p2pilot.records import Ad, OrderStatus, PriceType, Side, TradingPreferences

Body = dict[str, Any]

ACCOUNT_INFO = "/v5/p2p/user/personal/info"
PAYMENT_METHODS = "/v5/p2p/user/payment/list"
PENDING_ORDERS = "/v5/p2p/order/pending/simplifyList"
ORDERS = "/v5/p2p/order/simplifyList"
ORDER_DETAIL = "/v5/p2p/order/info"
COUNTERPARTY_INFO = "/v5/p2p/user/order/personal/info"
RELEASE = "/v5/p2p/order/finish"
MARK_PAID = "/v5/p2p/order/pay"
CHAT_MESSAGES = "/v5/p2p/order/message/listpage"
SEND_CHAT_MESSAGE = "/v5/p2p/order/message/send"
UPLOAD_CHAT_FILE = "/v5/p2p/oss/upload_file"
CHAT_SESSIONS = "/v5/p2p/chat/session/list_v1"
CHAT_SESSION_ID = "/v5/p2p/chat/session/getSessionId"
SESSION_MESSAGES = "/v5/p2p/chat/message/listpage_v1"
SEND_SESSION_MESSAGE = "/v5/p2p/chat/message/send_v1"
MY_ADS = "/v5/p2p/item/personal/list"
AD_DETAIL = "/v5/p2p/item/info"
CREATE_AD = "/v5/p2p/item/create"
UPDATE_AD = "/v5/p2p/item/update"
REMOVE_AD = "/v5/p2p/item/cancel"
ONLINE_ADS = "/v5/p2p/item/online"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_ORDER_PAGE_SIZE = 30
MAX_CHAT_PAGE_SIZE = 30
MAX_MY_ADS_PAGE_SIZE = 30  # docs say 50, a pending docs PR says 30: stay inside both
MAX_ONLINE_ADS_PAGE_SIZE = 300
MAX_PAYMENT_IDS = 5
MAX_REMARK_CHARS = 900


def decimal_string(value: Decimal) -> str:
    """A plain decimal string without exponent (``Decimal('1E+3')`` → ``'1000'``)."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise ValueError(f"expected a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {value}")
    return format(value, "f")


def _page(page: int, size: int, max_size: int) -> tuple[int, int]:
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be an int >= 1, got {page!r}")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= max_size:
        raise ValueError(f"size must be an int in 1..{max_size}, got {size!r}")
    return page, size


def _ms_string(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("begin/end must be timezone-aware datetimes")
    return str((value - _EPOCH) // timedelta(milliseconds=1))


def orders_body(
    *,
    page: int,
    size: int,
    status: OrderStatus | None = None,
    begin: datetime | None = None,
    end: datetime | None = None,
) -> Body:
    """``order/simplifyList`` and its pending twin: integers, times as ms strings."""
    page, size = _page(page, size, MAX_ORDER_PAGE_SIZE)
    body: Body = {"page": page, "size": size}
    if status is not None:
        body["status"] = int(status)
    if begin is not None:
        body["beginTime"] = _ms_string(begin)
    if end is not None:
        body["endTime"] = _ms_string(end)
    return body


def mark_paid_body(*, order_id: str, payment_type: int, payment_id: str) -> Body:
    """``order/pay``: every value a string (numbers get 10001)."""
    return {
        "orderId": str(order_id),
        "paymentType": str(payment_type),
        "paymentId": str(payment_id),
    }


def chat_messages_body(order_id: str, *, page: int, size: int) -> Body:
    """``order/message/listpage``: ``size``/``currentPage`` as strings."""
    page, size = _page(page, size, MAX_CHAT_PAGE_SIZE)
    return {"orderId": str(order_id), "size": str(size), "currentPage": str(page)}


def send_chat_body(
    *, order_id: str, text: str, msg_uuid: str, content_type: str, file_name: str | None
) -> Body:
    """``order/message/send``; ``msgUuid`` is required by the docs though pybit omits it."""
    if not msg_uuid:
        raise ValueError("msg_uuid is required")
    body: Body = {
        "orderId": str(order_id),
        "message": text,
        "contentType": content_type.lower(),
        "msgUuid": msg_uuid,
    }
    if file_name:
        body["fileName"] = file_name
    return body


def session_messages_body(session_id: str, *, limit: int, last_id: str | None) -> Body:
    """``listpage_v1``: integer ``limit``; ``lastId`` only when paging back.

    One live report has ``listpage_v1`` answer nothing when ``lastId`` is sent, so the
    first page (the newest messages) goes without it.
    """
    _page(1, limit, MAX_CHAT_PAGE_SIZE)
    body: Body = {"sessionId": session_id, "limit": limit}
    if last_id:
        body["lastId"] = _cursor(last_id)
    return body


def chat_sessions_body(*, size: int, last_id: str | None, read_status: int | None) -> Body:
    """``list_v1``: integer ``size`` (50 is refused with 913100009), ``lastId`` only when
    paging, ``readStatus`` 0 unread / 1 read / 2 all (reported by clients, not documented)."""
    _page(1, size, MAX_CHAT_PAGE_SIZE)
    body: Body = {"size": size}
    if last_id:
        body["lastId"] = _cursor(last_id)
    if read_status is not None:
        if read_status not in (0, 1, 2):
            raise ValueError(f"read_status must be 0, 1 or 2, got {read_status!r}")
        body["readStatus"] = read_status
    return body


def _cursor(last_id: str) -> int:
    if not last_id.isdigit():
        raise ValueError(f"last_id must be a numeric id, got {last_id!r}")
    return int(last_id)


def send_session_body(*, order_id: str, session_id: str, text: str, content_type: str) -> Body:
    """``send_v1``: all four fields required; session chat wants upper-case content types."""
    return {
        "orderId": str(order_id),
        "sessionId": session_id,
        "contentType": content_type.upper(),
        "message": text,
    }


def my_ads_body(*, page: int, size: int, token: str | None, currency: str | None) -> Body:
    """``item/personal/list``: every value a string."""
    page, size = _page(page, size, MAX_MY_ADS_PAGE_SIZE)
    body: Body = {"page": str(page), "size": str(size)}
    if token:
        body["tokenId"] = token
    if currency:
        body["currencyId"] = currency
    return body


def online_ads_body(*, token: str, currency: str, side: Side, page: int, size: int) -> Body:
    """``item/online``: every value a string (integer ``page``/``size`` get 10001)."""
    page, size = _page(page, size, MAX_ONLINE_ADS_PAGE_SIZE)
    return {
        "tokenId": token,
        "currencyId": currency,
        "side": str(int(Side(side))),
        "page": str(page),
        "size": str(size),
    }


def trading_preferences_body(prefs: TradingPreferences) -> dict[str, str]:
    """The 12 documented keys, as strings; nothing else (extra keys get 10001)."""

    def flag(value: bool) -> str:
        return "1" if value else "0"

    return {
        "hasUnPostAd": flag(prefs.has_unposted_ad),
        "isKyc": flag(prefs.is_kyc),
        "isEmail": flag(prefs.is_email),
        "isMobile": flag(prefs.is_mobile),
        "hasRegisterTime": flag(prefs.has_register_time),
        "registerTimeThreshold": str(int(prefs.register_time_threshold)),
        "hasOrderFinishNumberDay30": flag(prefs.has_order_finish_number_day30),
        "orderFinishNumberDay30": str(int(prefs.order_finish_number_day30)),
        "hasCompleteRateDay30": flag(prefs.has_complete_rate_day30),
        "completeRateDay30": str(prefs.complete_rate_day30),
        "hasNationalLimit": flag(prefs.has_national_limit),
        "nationalLimit": str(prefs.national_limit),
    }


@dataclass(frozen=True, slots=True)
class AdParams:
    """What ``item/create`` needs; ``item/update`` uses all but token, currency, side, item type.

    ``quantity`` is what remains on offer: on update Bybit treats it as the amount
    left, so sending the original total re-adds what was already traded (§2.4).
    ``premium`` is only meaningful for floating-price ads.
    """

    token: str
    currency: str
    side: Side
    price_type: PriceType
    price: Decimal
    quantity: Decimal
    min_amount: Decimal
    max_amount: Decimal
    payment_ids: tuple[str, ...]
    payment_period: int
    remark: str = ""
    premium: Decimal | None = None
    trading_preferences: TradingPreferences = dataclasses.field(default_factory=TradingPreferences)
    item_type: Literal["ORIGIN", "BULK"] = "ORIGIN"

    def __post_init__(self) -> None:
        for name in ("price", "quantity", "min_amount", "max_amount"):
            decimal_string(getattr(self, name))
        if self.premium is not None:
            decimal_string(self.premium)
        if isinstance(self.payment_ids, str) or not 1 <= len(self.payment_ids) <= MAX_PAYMENT_IDS:
            raise ValueError(f"payment_ids must hold 1..{MAX_PAYMENT_IDS} payment-method ids")
        if len(self.remark) > MAX_REMARK_CHARS:
            raise ValueError(f"remark is longer than {MAX_REMARK_CHARS} characters")
        if self.min_amount > self.max_amount:
            raise ValueError("min_amount is above max_amount")

    @classmethod
    def from_ad(cls, ad: Ad) -> AdParams:
        """Parameters that re-send an existing ad unchanged (quantity = what is left)."""
        return cls(
            token=ad.token,
            currency=ad.currency,
            side=ad.side,
            price_type=ad.price_type,
            price=ad.price,
            quantity=ad.last_quantity,
            min_amount=ad.min_amount,
            max_amount=ad.max_amount,
            payment_ids=tuple(term.id for term in ad.payment_terms),
            payment_period=ad.payment_period,
            remark=ad.remark,
            premium=ad.premium,
            trading_preferences=ad.trading_preferences,
        )

    def _common(self) -> Body:
        premium = self.premium if self.price_type is PriceType.FLOATING else None
        return {
            "priceType": str(int(self.price_type)),
            "premium": decimal_string(premium) if premium is not None else "0",
            "price": decimal_string(self.price),
            "minAmount": decimal_string(self.min_amount),
            "maxAmount": decimal_string(self.max_amount),
            "remark": self.remark,
            "tradingPreferenceSet": trading_preferences_body(self.trading_preferences),
            "paymentIds": [str(pid) for pid in self.payment_ids],
            "quantity": decimal_string(self.quantity),
            "paymentPeriod": str(int(self.payment_period)),
        }

    def create_body(self) -> Body:
        """The ``item/create`` body."""
        return {
            "tokenId": self.token,
            "currencyId": self.currency,
            "side": str(int(Side(self.side))),
            **self._common(),
            "itemType": self.item_type,
        }

    def update_body(self, ad_id: str, action: Literal["MODIFY", "ACTIVE"]) -> Body:
        """The ``item/update`` body for ``ad_id``."""
        if action not in ("MODIFY", "ACTIVE"):
            raise ValueError(f"action must be MODIFY or ACTIVE, got {action!r}")
        return {"id": str(ad_id), "actionType": action, **self._common()}
