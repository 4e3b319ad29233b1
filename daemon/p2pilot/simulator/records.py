"""What the simulated exchange holds: merchants, counterparties, orders, messages, ads.

Plain records and the codes the simulator answers with; ``state.py`` keeps them
and changes them under its lock. Codes that Bybit does not publish (order not
found, wrong status, ...) are marked INVENTED below.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

TOKEN_SCALE = {"USDT": 4, "BTC": 8, "ETH": 6, "USDC": 4}
CURRENCY_SCALE = {"RUB": 2, "EUR": 3, "USD": 2, "KZT": 2, "HKD": 2}
PENDING = (5, 10, 20, 30, 90, 100, 110)
FINAL = (40, 50, 70, 80)

# INVENTED codes (Bybit publishes none for these situations); messages say what happened.
ORDER_NOT_FOUND = 912100010
WRONG_STATUS = 912100011
NOT_SELLER = 912100012
NOT_BUYER = 912100013
PARAM_ERROR = 10001
PAYMENT_METHOD_ERROR = 912300013
AD_EDIT_LIMIT = 912120050
PRICE_OUT_OF_BAND = 912120022
AD_NOT_FOUND = 912300014
BALANCE_UNSUPPORTED = 912100014
CHAT_CLOSED = 912200387
PAGE_SIZE_ERROR = 913100009  # list_v1 with size 50 (reported live); the limit itself is a guess
CHAT_GONE_UNKNOWN = 912200999  # INVENTED: what a removed per-order chat route might answer


class ExchangeRefusal(Exception):
    """A business error, answered in the P2P envelope with ``code`` and ``message``."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code} {message}")


def now_ms() -> int:
    return int(time.time() * 1000)


def scaled(value: Decimal, scale: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN))


@dataclass
class PaymentMethod:
    id: str
    payment_type: int
    name: str
    real_name: str
    account_no: str
    bank_name: str = ""
    online: bool = False


@dataclass
class Merchant:
    api_key: str
    secret: str
    user_id: str
    account_id: str
    nickname: str
    real_name: str
    payment_methods: list[PaymentMethod]


@dataclass
class Counterparty:
    user_id: str
    nickname: str
    real_name: str
    mask_id: str
    total_orders: int = 58
    recent_rate: int = 97
    account_days: int = 402
    blocked: str = "N"  # Bybit's ban status as counterparty info reports it


@dataclass
class Message:
    id: int
    order_id: str
    user_id: str
    nickname: str
    text: str
    content_type: str
    msg_type: int
    role: str
    msg_uuid: str
    created_ms: int
    file_name: str = ""
    read_by_merchant: bool = False
    via_session: bool = False  # written in session chat, not the order's chat


@dataclass
class Order:
    id: str
    merchant: Merchant
    side: int  # the merchant's perspective: 0 buys crypto, 1 sells
    token: str
    currency: str
    amount: Decimal
    price: Decimal
    quantity: Decimal
    counterparty: Counterparty
    item_id: str
    status: int = 10
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)
    paid_ms: int = 0
    payment_type: int = 0
    payment_id: str = ""
    appeal_user_id: str = "0"
    cancel_reason: str = ""
    payment_period_min: int = 15
    messages: list[Message] = field(default_factory=list)

    @property
    def seller_is_merchant(self) -> bool:
        return self.side == 1


@dataclass
class Ad:
    id: str
    merchant: Merchant | None  # None: another advertiser in the market
    nickname: str
    user_id: str
    side: int
    token: str
    currency: str
    price: Decimal
    quantity: Decimal
    last_quantity: Decimal
    min_amount: Decimal
    max_amount: Decimal
    payments: list[str]
    payment_ids: list[str]
    remark: str = ""
    status: int = 10
    price_type: int = 0
    premium: str = "0"
    payment_period: int = 15
    recent_order_count: int = 100
    recent_execute_rate: int = 98
    preferences: dict[str, Any] = field(default_factory=dict)
    created_ms: int = field(default_factory=now_ms)
    updated_ms: int = field(default_factory=now_ms)
    edits_ms: list[int] = field(default_factory=list)
