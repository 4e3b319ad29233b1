"""The simulated exchange's state: merchants, orders, chat, ads, market.

Everything is guarded by one lock; the HTTP handlers, the control API and the
scenario thread all go through the methods here. The records it holds are in
``records.py``, the chat variants in ``chat.py``.
"""

from __future__ import annotations

import itertools
import threading
import time
from decimal import ROUND_DOWN, Decimal
from typing import Any

from p2pilot.simulator.chat import ChatVariants
from p2pilot.simulator.records import (
    AD_NOT_FOUND,
    BALANCE_UNSUPPORTED,
    NOT_BUYER,
    NOT_SELLER,
    ORDER_NOT_FOUND,
    PARAM_ERROR,
    TOKEN_SCALE,
    WRONG_STATUS,
    Ad,
    Counterparty,
    ExchangeRefusal,
    Merchant,
    Message,
    Order,
    PaymentMethod,
    now_ms,
)


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
                quantity=Decimal(2000),
                last_quantity=Decimal(2000),
                min_amount=Decimal(500),
                max_amount=Decimal(150000),
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
        return sorted(prices)[len(prices) // 2] if prices else Decimal(80)

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
