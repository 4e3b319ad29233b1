"""The simulated exchange's state: merchants, orders, chat, ads, market.

Everything is guarded by one lock; the HTTP handlers, the control API and the
scenario thread all go through the methods here. Codes that Bybit does not
publish (order not found, wrong status, ...) are marked INVENTED below.
"""

from __future__ import annotations

import itertools
import threading
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

# How the per-order chat routes answer. Bybit is removing them and nobody knows yet
# what a removed route will say (reference, 2026-11 update): 912200387 (seen live),
# an HTTP 404, or a code nobody has documented.
ORDER_CHAT_ANSWERS = ("open", "912200387", "http_404", "unknown_code")


@dataclass
class ChatVariants:
    """Which of the reported (or feared) shapes of Bybit's chat move this exchange shows."""

    order_api: str = "open"  # one of ORDER_CHAT_ANSWERS
    # Whether a message the buyer writes in session chat raises the order list's
    # unreadMsgCount: only a response example shows that field; nothing says.
    session_messages_on_order_list: bool = True
    # One live report: listpage_v1 answers nothing when lastId (or size) is sent.
    listpage_v1_empty_with_last_id: bool = False
    # order/info's targetUserMaskId: only the newer Get-Session-ID page names it.
    detail_mask_id: bool = True

    def update(self, settings: dict[str, Any]) -> None:
        """Apply the control API's settings; unknown keys and values are refused."""
        for key, value in settings.items():
            if key == "order_api":
                if value not in ORDER_CHAT_ANSWERS:
                    raise ValueError(f"order_api must be one of {', '.join(ORDER_CHAT_ANSWERS)}")
                self.order_api = value
            elif key in (
                "session_messages_on_order_list",
                "listpage_v1_empty_with_last_id",
                "detail_mask_id",
            ):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be true or false")
                setattr(self, key, value)
            else:
                raise ValueError(f"unknown chat setting {key!r}")

    def describe(self) -> dict[str, Any]:
        return {
            "order_api": self.order_api,
            "session_messages_on_order_list": self.session_messages_on_order_list,
            "listpage_v1_empty_with_last_id": self.listpage_v1_empty_with_last_id,
            "detail_mask_id": self.detail_mask_id,
        }


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


class Exchange:
    """All state of one simulated exchange."""

    def __init__(self, accounts: dict[str, str]) -> None:
        self.lock = threading.RLock()
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(3004511000)
        self.merchants: dict[str, Merchant] = {}
        for index, (key, secret) in enumerate(accounts.items()):
            uid = str(52700411 + index * 10)
            self.merchants[key] = Merchant(
                api_key=key,
                secret=secret,
                user_id=uid,
                account_id=str(int(uid) + 1),
                nickname=f"Desk{index + 1}" if index else "DeskRUB",
                real_name="IVAN PETROV" if index == 0 else f"MERCHANT {index + 1}",
                payment_methods=[
                    PaymentMethod("-1", 377, "Balance", "", "", online=True),
                    PaymentMethod(f"91200{44 + index}", 582, "SBP", "IVAN PETROV", "+7999*******"),
                    PaymentMethod(
                        f"91201{44 + index}",
                        14,
                        "Bank Transfer",
                        "IVAN PETROV",
                        "40817810000000000001",
                        bank_name="T-Bank",
                    ),
                ],
            )
        self.orders: dict[str, Order] = {}
        self.ads: dict[str, Ad] = {}
        self.chat = ChatVariants()
        self._session_numbers: dict[tuple[str, str], int] = {}
        for merchant in self.merchants.values():
            self._seed_own_ads(merchant)
        self._seed_market()

    # -- ids ---------------------------------------------------------------------------

    def new_id(self, prefix: str = "199") -> str:
        return f"{prefix}{int(time.time() * 1000) % 10**10:010d}{next(self._ids):06d}"

    def default_merchant(self) -> Merchant:
        return next(iter(self.merchants.values()))

    def merchant(self, api_key: str | None) -> Merchant:
        if api_key is None:
            return self.default_merchant()
        if api_key not in self.merchants:
            raise ExchangeRefusal(PARAM_ERROR, f"unknown merchant {api_key}")
        return self.merchants[api_key]

    # -- orders --------------------------------------------------------------------------

    def create_order(
        self,
        *,
        merchant: Merchant,
        side: int,
        amount: Decimal,
        price: Decimal,
        token: str = "USDT",
        currency: str = "RUB",
        counterparty: Counterparty | None = None,
    ) -> Order:
        with self.lock:
            number = next(self._ids)
            cp = counterparty or Counterparty(
                user_id=str(60012345 + number),
                nickname=f"buyer_{number}",
                real_name=f"OLEG S{number}",
                mask_id=f"s{number:08x}",
            )
            scale = TOKEN_SCALE.get(token, 4)
            quantity = (amount / price).quantize(Decimal(1).scaleb(-scale), rounding=ROUND_DOWN)
            ad = next(
                (a for a in self.ads.values() if a.merchant is merchant and a.side == side), None
            )
            order = Order(
                id=self.new_id(),
                merchant=merchant,
                side=side,
                token=token,
                currency=currency,
                amount=amount,
                price=price,
                quantity=quantity,
                counterparty=cp,
                item_id=ad.id if ad else self.new_id("198"),
            )
            self.orders[order.id] = order
            self._system(order, "The order has been created.", 1001)
            return order

    def order(self, order_id: str, merchant: Merchant | None = None) -> Order:
        with self.lock:
            found = self.orders.get(str(order_id))
            if found is None or (merchant is not None and found.merchant is not merchant):
                raise ExchangeRefusal(ORDER_NOT_FOUND, "Order does not exist")
            return found

    def _touch(self, order: Order, status: int) -> None:
        order.status = status
        order.updated_ms = now_ms()

    def counterparty_pays(self, order_id: str) -> Order:
        """The buyer (not us) marks a sell order paid: 10 -> 20."""
        with self.lock:
            order = self.order(order_id)
            if order.status != 10:
                raise ExchangeRefusal(WRONG_STATUS, f"order is in status {order.status}")
            method = order.merchant.payment_methods[1]
            order.payment_type, order.payment_id = method.payment_type, method.id
            order.paid_ms = now_ms()
            self._touch(order, 20)
            self._system(order, "The buyer has marked the order as paid.", 1011)
            return order

    def merchant_pays(
        self, merchant: Merchant, order_id: str, payment_type: str, payment_id: str
    ) -> None:
        with self.lock:
            order = self.order(order_id, merchant)
            if order.side != 0:
                raise ExchangeRefusal(NOT_BUYER, "Only the buyer can mark the order as paid")
            if payment_type == "377":
                raise ExchangeRefusal(BALANCE_UNSUPPORTED, "Balance payment is not supported")
            if order.status != 10:
                raise ExchangeRefusal(WRONG_STATUS, f"order is in status {order.status}")
            order.payment_type, order.payment_id = int(payment_type), payment_id
            order.paid_ms = now_ms()
            self._touch(order, 20)
            self._system(order, "The buyer has marked the order as paid.", 1011)

    def merchant_releases(self, merchant: Merchant, order_id: str) -> None:
        with self.lock:
            order = self.order(order_id, merchant)
            if not order.seller_is_merchant:
                raise ExchangeRefusal(NOT_SELLER, "Only the seller can release the order")
            if order.status != 20:
                raise ExchangeRefusal(WRONG_STATUS, f"order is in status {order.status}")
            self._touch(order, 50)
            self._system(order, "The seller has released the crypto.", 1021)

    def counterparty_releases(self, order_id: str) -> Order:
        with self.lock:
            order = self.order(order_id)
            if order.seller_is_merchant or order.status != 20:
                raise ExchangeRefusal(WRONG_STATUS, "counterparty cannot release this order")
            self._touch(order, 50)
            self._system(order, "The seller has released the crypto.", 1021)
            return order

    def cancel(self, order_id: str, reason: str = "buyer cancelled") -> Order:
        with self.lock:
            order = self.order(order_id)
            if order.status not in (10, 20):
                raise ExchangeRefusal(WRONG_STATUS, f"order is in status {order.status}")
            order.cancel_reason = reason
            self._touch(order, 40)
            self._system(order, "The order has been cancelled.", 1031)
            return order

    def appeal(self, order_id: str) -> Order:
        with self.lock:
            order = self.order(order_id)
            if order.status != 20:
                raise ExchangeRefusal(WRONG_STATUS, f"order is in status {order.status}")
            order.appeal_user_id = order.counterparty.user_id
            self._touch(order, 30)
            self._system(order, "An appeal has been filed.", 1041)
            return order

    def force_status(self, order_id: str, status: int) -> Order:
        with self.lock:
            order = self.order(order_id)
            self._touch(order, status)
            return order

    # -- chat ----------------------------------------------------------------------------

    def _system(self, order: Order, text: str, code: int) -> None:
        order.messages.append(
            Message(
                id=next(self._message_ids),
                order_id=order.id,
                user_id="0",
                nickname="",
                text=text,
                content_type="str",
                msg_type=0,
                role="sys",
                msg_uuid="",
                created_ms=now_ms(),
                read_by_merchant=True,
            )
        )
        del code  # kept in the signature to document which notice it is

    @property
    def order_chat_open(self) -> bool:
        return self.chat.order_api == "open"

    def counterparty_says(
        self,
        order_id: str,
        text: str,
        content_type: str = "str",
        via_session: bool | None = None,
    ) -> Message:
        """The buyer writes; in session chat by default once per-order chat is gone."""
        with self.lock:
            order = self.order(order_id)
            message = Message(
                id=next(self._message_ids),
                order_id=order.id,
                user_id=order.counterparty.user_id,
                nickname=order.counterparty.nickname,
                text=text,
                content_type=content_type,
                msg_type=1 if content_type == "str" else 2,
                role="user",
                msg_uuid="",
                created_ms=now_ms(),
                via_session=not self.order_chat_open if via_session is None else via_session,
            )
            order.messages.append(message)
            return message

    def merchant_says(
        self,
        merchant: Merchant,
        order_id: str,
        text: str,
        content_type: str,
        msg_uuid: str,
        file_name: str = "",
        via_session: bool = False,
    ) -> None:
        with self.lock:
            order = self.order(order_id, merchant)
            order.messages.append(
                Message(
                    id=next(self._message_ids),
                    order_id=order.id,
                    user_id=merchant.user_id,
                    nickname=merchant.nickname,
                    text=text,
                    content_type=content_type.lower(),
                    msg_type=1 if content_type.lower() == "str" else 2,
                    role="user",
                    msg_uuid=msg_uuid,
                    created_ms=now_ms(),
                    file_name=file_name,
                    read_by_merchant=True,
                    via_session=via_session,
                )
            )

    def unread(self, order: Order) -> int:
        """Messages we have not read, whichever chat they were written in."""
        return sum(1 for m in order.messages if not m.read_by_merchant)

    def unread_on_order_list(self, order: Order) -> int:
        """The order list's (and detail's) ``unreadMsgCount``."""
        counted = self.chat.session_messages_on_order_list
        return sum(
            1 for m in order.messages if not m.read_by_merchant and (counted or not m.via_session)
        )

    def session_number(self, merchant: Merchant, mask_id: str) -> int:
        """The session's ``id`` in ``list_v1`` (its cursor): stable once given."""
        with self.lock:
            key = (merchant.user_id, mask_id)
            if key not in self._session_numbers:
                self._session_numbers[key] = len(self._session_numbers) + 1
            return 1994300000000000000 + self._session_numbers[key]

    def session_for(self, merchant: Merchant, mask_id: str) -> str:
        with self.lock:
            for order in self.orders.values():
                if order.merchant is merchant and order.counterparty.mask_id == mask_id:
                    return f"sess-{merchant.user_id}-{mask_id}"
            raise ExchangeRefusal(PARAM_ERROR, "userMaskId not found")

    def session_orders(self, merchant: Merchant, session_id: str) -> list[Order]:
        prefix = f"sess-{merchant.user_id}-"
        if not session_id.startswith(prefix):
            raise ExchangeRefusal(PARAM_ERROR, "sessionId not found")
        mask = session_id[len(prefix) :]
        return [
            o
            for o in self.orders.values()
            if o.merchant is merchant and o.counterparty.mask_id == mask
        ]

    # -- ads -----------------------------------------------------------------------------

    def _seed_own_ads(self, merchant: Merchant) -> None:
        for side, price in ((1, Decimal("81.45")), (0, Decimal("79.90"))):
            ad_id = self.new_id("198")
            self.ads[ad_id] = Ad(
                id=ad_id,
                merchant=merchant,
                nickname=merchant.nickname,
                user_id=merchant.user_id,
                side=side,
                token="USDT",
                currency="RUB",
                price=price,
                quantity=Decimal("2000"),
                last_quantity=Decimal("2000"),
                min_amount=Decimal("500"),
                max_amount=Decimal("150000"),
                payments=["582"],
                payment_ids=[merchant.payment_methods[1].id],
                remark="SBP only",
            )

    def _seed_market(self) -> None:
        """Other advertisers around a reference price, both sides, RUB and EUR."""
        books = {("USDT", "RUB"): Decimal("81.00"), ("USDT", "EUR"): Decimal("0.930")}
        names = ("FastSwap", "CryptoBear", "SBPking", "Nord24", "ExpressP2P", "TrustDesk")
        for (token, currency), reference in books.items():
            for side in (0, 1):
                ads = []
                for index, name in enumerate(names):
                    # Sellers (side 1) ask above the reference, buyers bid below it.
                    step = Decimal(index + 1) * reference / Decimal(400)
                    price = reference + step if side == 1 else reference - step
                    ads.append(
                        {
                            "price": str(price.quantize(Decimal("0.001"))),
                            "nickname": name,
                            "quantity": str(1000 + 250 * index),
                            "min_amount": "500" if currency == "RUB" else "10",
                            "max_amount": "250000" if currency == "RUB" else "5000",
                            "payments": ["582", "14"] if index % 2 else ["14"],
                            "recent_order_count": 50 + 40 * index,
                            "recent_execute_rate": 90 + index,
                        }
                    )
                self.set_market(token, currency, side, ads)

    def own_ads(self, merchant: Merchant) -> list[Ad]:
        return [a for a in self.ads.values() if a.merchant is merchant and a.status != 30]

    def ad(self, merchant: Merchant, ad_id: str) -> Ad:
        found = self.ads.get(str(ad_id))
        if found is None or found.merchant is not merchant:
            raise ExchangeRefusal(AD_NOT_FOUND, "Ad does not exist")
        return found

    def reference_price(self, token: str, currency: str) -> Decimal:
        prices = [a.price for a in self.ads.values() if a.token == token and a.currency == currency]
        return sorted(prices)[len(prices) // 2] if prices else Decimal("80")

    def set_market(self, token: str, currency: str, side: int, ads: list[dict[str, Any]]) -> None:
        with self.lock:
            for ad_id in [
                a.id
                for a in self.ads.values()
                if a.merchant is None
                and a.token == token
                and a.currency == currency
                and a.side == side
            ]:
                del self.ads[ad_id]
            for index, spec in enumerate(ads):
                ad_id = self.new_id("197")
                self.ads[ad_id] = Ad(
                    id=ad_id,
                    merchant=None,
                    nickname=str(spec.get("nickname", f"trader{index}")),
                    user_id=str(70010001 + index),
                    side=side,
                    token=token,
                    currency=currency,
                    price=Decimal(str(spec["price"])),
                    quantity=Decimal(str(spec.get("quantity", "1000"))),
                    last_quantity=Decimal(str(spec.get("quantity", "1000"))),
                    min_amount=Decimal(str(spec.get("min_amount", "500"))),
                    max_amount=Decimal(str(spec.get("max_amount", "100000"))),
                    payments=[str(p) for p in spec.get("payments", ["582"])],
                    payment_ids=[],
                    recent_order_count=int(spec.get("recent_order_count", 100)),
                    recent_execute_rate=int(spec.get("recent_execute_rate", 98)),
                )
