"""The exchange client: typed calls to one account's Bybit P2P API.

Each method builds its request body (``requests.py``), waits for the account's
request budget, hands the body to a ``Transport`` and parses the answer into the
records of ``p2pilot.records``. It raises from the error family of ``errors.py`` and
never retries: waiting and retrying belong to the callers. The transport is pybit
over HTTP unless another is given (the simulator's in-process one, in tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from p2pilot.exchange import parse
from p2pilot.exchange import requests as req
from p2pilot.exchange.budget import RequestBudget
from p2pilot.exchange.errors import ExchangeError, RateLimited
from p2pilot.exchange.failures import header
from p2pilot.exchange.recent import ParsedRows, RecentDetails
from p2pilot.exchange.requests import AdParams
from p2pilot.exchange.transport import Kind, PybitTransport, Transport
from p2pilot.logging import get_logger
from p2pilot.records import (
    Ad,
    ChatMessage,
    ChatSession,
    OnlineAd,
    OrderDetail,
    OrderStatus,
    OrderSummary,
    Page,
    PaymentTerm,
    Side,
    UploadedFile,
    UserProfile,
)

T = TypeVar("T")

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What an ``on_call`` hook learns about each exchange call (no secrets, no payload)."""

    account: str
    endpoint: str
    kind: Kind
    duration: float
    outcome: str  # "ok" or the ExchangeError subclass name
    limit_remaining: int | None = None  # X-Bapi-Limit-Status, when the exchange sends it
    ip_ban: bool = False  # an HTTP 403: the whole host is paused


CallHook = Callable[[CallInfo], None]


class ExchangeClient:
    """Typed, synchronous access to one account's Bybit P2P API."""

    def __init__(
        self,
        *,
        account: str,
        api_key: str = "",
        api_secret: str = "",
        base_url: str | None = None,
        testnet: bool = False,
        timeout: float = 10.0,
        recv_window: int = 5000,
        on_call: CallHook | None = None,
        budget: RequestBudget | None = None,
        transport: Transport | None = None,
    ) -> None:
        """Without ``transport``, the account's keys reach Bybit (or ``base_url``) by pybit."""
        self.account = account
        self.timeout = timeout
        self.budget = budget or RequestBudget()
        self.recent_details = RecentDetails()
        # Not locked: a hit needs an identical row, so a race can only cost a parse.
        self._pending_rows: ParsedRows[OrderSummary] = ParsedRows()
        self._order_rows: ParsedRows[OrderSummary] = ParsedRows()
        self._on_call = on_call
        self.transport: Transport = transport or PybitTransport(
            api_key=api_key,
            api_secret=api_secret,
            base_url=base_url,
            testnet=testnet,
            timeout=timeout,
            recv_window=recv_window,
        )
        self.base_url: str = self.transport.base_url

    def __repr__(self) -> str:
        return f"ExchangeClient(account={self.account!r}, base_url={self.base_url!r})"

    # ---- plumbing ------------------------------------------------------------

    def _call(
        self,
        endpoint: str,
        kind: Kind,
        body: req.Body,
        read: Callable[[Any], T],
        *,
        upload: tuple[bytes, str] | None = None,
    ) -> T:
        self.budget.before(kind, endpoint)
        started = time.monotonic()
        outcome, remaining, ip_ban = "ok", None, False
        try:
            try:
                if upload is not None:
                    payload, headers = self.transport.upload(endpoint, *upload)
                else:
                    payload, headers = self.transport.send(endpoint, kind, body)
            except ExchangeError as exc:
                self.budget.after(exc)
                raise
            limit = header(headers, "X-Bapi-Limit-Status")
            remaining = int(limit) if limit is not None and limit.isdigit() else None
            result = read(payload)
            if isinstance(result, Page) and result.unreadable:
                log.warning(
                    "exchange.rows_unreadable",
                    account=self.account,
                    endpoint=endpoint,
                    skipped=len(result.unreadable),
                    errors=list(result.unreadable),
                )
            return result
        except Exception as exc:
            outcome = type(exc).__name__
            ip_ban = isinstance(exc, RateLimited) and exc.ip_ban
            raise
        finally:
            elapsed = time.monotonic() - started
            self._report(
                CallInfo(self.account, endpoint, kind, elapsed, outcome, remaining, ip_ban)
            )

    def _report(self, info: CallInfo) -> None:
        if self._on_call is None:
            return
        try:
            self._on_call(info)
        except Exception:
            # A broken metrics hook must not turn a good call into a failure.
            log.warning("exchange.on_call_hook_failed", exc_info=True)

    def _action(self, path: str, body: req.Body) -> None:
        self._call(path, "write", body, lambda payload: parse.check_action(payload, path))

    # ---- account ---------------------------------------------------------------

    def account_info(self) -> UserProfile:
        """Our own P2P profile (``user/personal/info``)."""
        return self._call(
            req.ACCOUNT_INFO,
            "read",
            {},
            parse.parse_user_profile,
        )

    def payment_methods(self) -> list[PaymentTerm]:
        """Our saved payment methods (``user/payment/list``)."""
        return self._call(
            req.PAYMENT_METHODS,
            "read",
            {},
            parse.parse_payment_terms,
        )

    def counterparty_info(self, *, user_id: str, order_id: str) -> UserProfile:
        """A counterparty's profile as seen through one of our orders."""
        body = {"originalUid": str(user_id), "orderId": str(order_id)}
        return self._call(
            req.COUNTERPARTY_INFO,
            "read",
            body,
            lambda payload: parse.parse_user_profile(payload, req.COUNTERPARTY_INFO),
        )

    # ---- orders ----------------------------------------------------------------

    def pending_orders(self, *, page: int = 1, size: int = 30) -> Page[OrderSummary]:
        """One page of non-final orders (``order/pending/simplifyList``)."""
        body = req.orders_body(page=page, size=size)
        if page == 1:
            self._pending_rows.new_pass()
        return self._call(
            req.PENDING_ORDERS,
            "read",
            body,
            lambda payload: parse.parse_order_page(payload, req.PENDING_ORDERS, self._pending_rows),
        )

    def orders(
        self,
        *,
        page: int = 1,
        size: int = 30,
        status: OrderStatus | None = None,
        begin: datetime | None = None,
        end: datetime | None = None,
    ) -> Page[OrderSummary]:
        """One page of all orders (``order/simplifyList``), optionally filtered."""
        body = req.orders_body(page=page, size=size, status=status, begin=begin, end=end)
        if page == 1:
            self._order_rows.new_pass()
        return self._call(
            req.ORDERS,
            "read",
            body,
            lambda payload: parse.parse_order_page(payload, req.ORDERS, self._order_rows),
        )

    def order_detail(self, order_id: str) -> OrderDetail:
        """One order in full (``order/info``); kept a moment in ``recent_details``."""
        sent_at = self.recent_details.now()
        detail = self._call(
            req.ORDER_DETAIL,
            "read",
            {"orderId": str(order_id)},
            parse.parse_order_detail,
        )
        self.recent_details.put(detail, sent_at)
        return detail

    def release(self, order_id: str) -> None:
        """Release the crypto to the buyer (``order/finish``)."""
        try:
            self._action(req.RELEASE, {"orderId": str(order_id)})
        finally:
            # Whatever was read before is stale now, or may be.
            self.recent_details.forget(order_id)

    def mark_paid(self, *, order_id: str, payment_type: int, payment_id: str) -> None:
        """Mark an order we buy in as paid (``order/pay``)."""
        body = req.mark_paid_body(
            order_id=order_id, payment_type=payment_type, payment_id=payment_id
        )
        try:
            self._action(req.MARK_PAID, body)
        finally:
            self.recent_details.forget(order_id)

    # ---- chat ------------------------------------------------------------------

    def chat_messages(self, order_id: str, *, page: int = 1, size: int = 30) -> list[ChatMessage]:
        """One page of an order's chat (``order/message/listpage``)."""
        body = req.chat_messages_body(order_id, page=page, size=size)
        return self._call(
            req.CHAT_MESSAGES,
            "read",
            body,
            parse.parse_chat_messages,
        )

    def send_chat_message(
        self,
        *,
        order_id: str,
        text: str,
        msg_uuid: str,
        content_type: str = "str",
        file_name: str | None = None,
    ) -> None:
        """Send a message to an order's chat; ``msg_uuid`` identifies it in the list later."""
        body = req.send_chat_body(
            order_id=order_id,
            text=text,
            msg_uuid=msg_uuid,
            content_type=content_type,
            file_name=file_name,
        )
        self._action(req.SEND_CHAT_MESSAGE, body)

    def upload_chat_file(self, *, data: bytes, filename: str) -> UploadedFile:
        """Upload a file for chat; send the returned URL as a pic/pdf/video message."""
        if not filename:
            raise ValueError("filename is required")
        return self._call(
            req.UPLOAD_CHAT_FILE,
            "write",
            {},
            parse.parse_uploaded_file,
            upload=(bytes(data), filename),
        )

    def chat_session_id(self, user_mask_id: str) -> str:
        """The session-chat id for one counterparty (``chat/session/getSessionId``)."""
        body = {"userMaskId": str(user_mask_id)}
        return self._call(
            req.CHAT_SESSION_ID,
            "read",
            body,
            parse.parse_session_id,
        )

    def chat_sessions(
        self, *, size: int = 30, last_id: str | None = None, read_status: int | None = None
    ) -> list[ChatSession]:
        """A page of our chat sessions with their unread counts (``chat/session/list_v1``)."""
        body = req.chat_sessions_body(size=size, last_id=last_id, read_status=read_status)
        return self._call(
            req.CHAT_SESSIONS,
            "read",
            body,
            parse.parse_chat_sessions,
        )

    def session_messages(
        self, session_id: str, *, limit: int = 30, last_id: str | None = None
    ) -> list[ChatMessage]:
        """A page of a session chat, newest first (``listpage_v1``); ``last_id`` pages back.

        A session spans every order with one counterparty and its rows name no order,
        so messages come back with ``order_id=""`` unless a row carries ``orderId``;
        the chat job attributes them.
        """
        body = req.session_messages_body(session_id, limit=limit, last_id=last_id)
        return self._call(
            req.SESSION_MESSAGES,
            "read",
            body,
            parse.parse_session_messages,
        )

    def send_session_message(
        self, *, order_id: str, session_id: str, text: str, content_type: str = "str"
    ) -> None:
        """Send a message through the session chat (``send_v1``)."""
        body = req.send_session_body(
            order_id=order_id, session_id=session_id, text=text, content_type=content_type
        )
        self._action(req.SEND_SESSION_MESSAGE, body)

    # ---- ads -------------------------------------------------------------------

    def my_ads(
        self,
        *,
        page: int = 1,
        size: int = 30,
        token: str | None = None,
        currency: str | None = None,
    ) -> Page[Ad]:
        """One page of our own ads (``item/personal/list``)."""
        body = req.my_ads_body(page=page, size=size, token=token, currency=currency)
        return self._call(req.MY_ADS, "read", body, parse.parse_ad_page)

    def ad_detail(self, ad_id: str) -> Ad:
        """One of our ads (``item/info``)."""
        return self._call(
            req.AD_DETAIL,
            "read",
            {"itemId": str(ad_id)},
            parse.parse_ad,
        )

    def create_ad(self, params: AdParams) -> str:
        """Post a new ad; returns its id."""
        body = params.create_body()
        return self._call(
            req.CREATE_AD,
            "write",
            body,
            parse.parse_created_ad_id,
        )

    def update_ad(
        self, ad_id: str, params: AdParams, *, action: Literal["MODIFY", "ACTIVE"] = "MODIFY"
    ) -> None:
        """Modify an online ad, or relist (``ACTIVE``) one the exchange took offline."""
        body = params.update_body(ad_id, action)
        self._action(req.UPDATE_AD, body)

    def remove_ad(self, ad_id: str) -> None:
        """Delete an ad (there is no pause; relisting means creating a new one)."""
        self._action(req.REMOVE_AD, {"itemId": str(ad_id)})

    def online_ads(
        self, *, token: str, currency: str, side: Side, page: int = 1, size: int = 100
    ) -> Page[OnlineAd]:
        """One page of the public order book (``item/online``), by advertiser side."""
        body = req.online_ads_body(token=token, currency=currency, side=side, page=page, size=size)
        return self._call(
            req.ONLINE_ADS,
            "read",
            body,
            parse.parse_online_ad_page,
        )
