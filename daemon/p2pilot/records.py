"""The desk's shared records: orders, chat, profiles, ads, as the exchange reports them.

They live outside the exchange adapter because the whole desk speaks them: the
exchange port returns them, the store keeps them, the rules decide on them.
Everything that crosses the exchange boundary is one of these: money is
``Decimal``, ids are ``str``, times are aware UTC ``datetime`` values, and codes
are enums. ``raw`` keeps the payload exactly as the exchange sent it so the
store can keep a faithful snapshot; the core never reads ``raw``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

JsonObject = dict[str, Any]


class OrderStatus(enum.IntEnum):
    """Order status codes (reference §3.1)."""

    WAITING_CHAIN = 5
    AWAITING_PAYMENT = 10
    PAID = 20
    APPEAL = 30
    CANCELLED = 40
    COMPLETED = 50
    PAYING = 60
    PAYMENT_FAILED = 70
    CANCELLED_EXCEPTION = 80
    CHOOSING_TOKEN = 90
    OBJECTIONING = 100
    AWAITING_OBJECTION = 110

    @property
    def is_final(self) -> bool:
        """True once the exchange will not move the order again."""
        return self in FINAL_STATUSES

    @property
    def label(self) -> str:
        """Lower-case name used in JSON output and logs."""
        return self.name.lower()


FINAL_STATUSES = frozenset(
    {
        OrderStatus.CANCELLED,
        OrderStatus.COMPLETED,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.CANCELLED_EXCEPTION,
    }
)


class Side(enum.IntEnum):
    """Buy or sell: an order's from *our* account's perspective (reference §3.2), an
    ad's from its advertiser's (§3.3). Bybit uses the same codes for both."""

    BUY = 0
    SELL = 1

    @property
    def label(self) -> str:
        return self.name.lower()


class AdStatus(enum.IntEnum):
    """Ad status in responses (reference §3.3)."""

    ONLINE = 10
    HIDDEN = 15
    OFFLINE = 20
    COMPLETED = 30


class PriceType(enum.IntEnum):
    FIXED = 0
    FLOATING = 1


class ChatApi(enum.StrEnum):
    """Which of Bybit's two chat APIs a message came from or goes to."""

    ORDER = "order"
    SESSION = "session"


class ChatRole(enum.StrEnum):
    """Who wrote a chat message, as far as we can tell."""

    USER = "user"
    SYSTEM = "sys"
    ALARM = "alarm"
    SUPPORT = "customer_support"
    UNKNOWN = "unknown"


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a paged list; ``count`` is the exchange's total.

    ``unreadable`` holds one message per row that could not be parsed: one bad
    row is skipped (and logged by the client), not allowed to hide the others.
    """

    count: int
    items: list[T]
    unreadable: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Rows the exchange sent on this page, read or not."""
        return len(self.items) + len(self.unreadable)


@dataclass(frozen=True, slots=True)
class PaymentTerm:
    """A concrete payment method instance (``id``) of a kind (``payment_type``)."""

    id: str
    payment_type: int
    name: str
    real_name: str
    bank_name: str
    account_no: str
    online: bool


@dataclass(frozen=True, slots=True)
class OrderSummary:
    """An order as the (pending) simplifyList endpoints report it."""

    id: str
    side: Side
    status: OrderStatus
    token: str
    currency: str
    amount: Decimal
    price: Decimal
    quantity: Decimal | None
    fee: Decimal | None
    counterparty_nickname: str
    counterparty_user_id: str
    user_id: str
    seller_real_name: str
    buyer_real_name: str
    created_at: datetime
    transfer_seconds_left: int | None
    unread_count: int
    self_unread_count: int
    raw: JsonObject = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class OrderDetail:
    """An order as ``order/info`` reports it: the summary plus ad, payment and appeal detail."""

    id: str
    side: Side
    status: OrderStatus
    token: str
    currency: str
    amount: Decimal
    price: Decimal
    quantity: Decimal
    fee: Decimal | None
    counterparty_nickname: str
    counterparty_user_id: str
    counterparty_mask_id: str
    user_id: str
    maker_user_id: str
    item_id: str
    seller_real_name: str
    buyer_real_name: str
    payment_type: int
    payment_terms: list[PaymentTerm]
    confirmed_payment: PaymentTerm | None
    created_at: datetime
    updated_at: datetime | None
    paid_at: datetime | None
    transfer_seconds_left: int | None
    can_appeal: bool
    appeal_user_id: str
    cancel_reason: str
    unread_count: int
    raw: JsonObject = field(repr=False, compare=False)

    @property
    def is_maker(self) -> bool:
        return bool(self.maker_user_id) and self.maker_user_id == self.user_id


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message, from either chat API."""

    id: str
    order_id: str
    sender_user_id: str
    sender_nickname: str
    text: str
    content_type: str
    msg_type: int
    role: ChatRole
    msg_uuid: str
    file_name: str
    created_at: datetime
    api: ChatApi
    raw: JsonObject = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ChatSession:
    """A session-chat conversation with one counterparty (all their orders)."""

    session_id: str
    name: str  # the counterparty's nickname
    unread_count: int
    id: str = ""  # the list's cursor (``lastId`` of the next page)


@dataclass(frozen=True, slots=True)
class UserProfile:
    """Account or counterparty info (``user/personal/info``, ``user/order/personal/info``)."""

    user_id: str
    nickname: str
    real_name: str
    kyc_level: str
    kyc_country: str
    recent_rate: Decimal | None
    recent_finish_count: int
    total_finish_count: int
    account_create_days: int
    first_trade_days: int
    good_appraise_rate: Decimal | None
    auth_status: int
    blocked: str
    registered_at: datetime | None
    is_online: bool
    raw: JsonObject = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class TradingPreferences:
    """An ad's counterparty requirements; sent back to Bybit as 12 string fields."""

    has_unposted_ad: bool = False
    is_kyc: bool = False
    is_email: bool = False
    is_mobile: bool = False
    has_register_time: bool = False
    register_time_threshold: int = 0
    has_order_finish_number_day30: bool = False
    order_finish_number_day30: int = 0
    has_complete_rate_day30: bool = False
    complete_rate_day30: str = "0"
    has_national_limit: bool = False
    national_limit: str = ""


@dataclass(frozen=True, slots=True)
class Ad:
    """One of our own ads (``item/personal/list``, ``item/info``)."""

    id: str
    user_id: str
    side: Side
    token: str
    currency: str
    price_type: PriceType
    price: Decimal
    premium: Decimal | None
    quantity: Decimal
    last_quantity: Decimal
    frozen_quantity: Decimal
    executed_quantity: Decimal
    min_amount: Decimal
    max_amount: Decimal
    remark: str
    status: AdStatus
    payment_types: list[str]
    payment_terms: list[PaymentTerm]
    payment_period: int
    trading_preferences: TradingPreferences
    price_band: tuple[Decimal, Decimal] | None  # allowed fixed prices, when the exchange says
    created_at: datetime | None
    updated_at: datetime | None
    raw: JsonObject = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class OnlineAd:
    """An ad in the public order book (``item/online``)."""

    id: str
    user_id: str
    nickname: str
    side: Side
    token: str
    currency: str
    price: Decimal
    last_quantity: Decimal
    min_amount: Decimal
    max_amount: Decimal
    payment_types: list[str]
    recent_order_count: int
    recent_execute_rate: Decimal | None
    is_online: bool
    raw: JsonObject = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """Result of a chat file upload: a relative URL to send as a message."""

    url: str
    type: str
