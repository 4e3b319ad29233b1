"""The exchange client: the only code in p2pilot that imports pybit.

One pybit ``HTTP`` session per account, built once and reused (its
``requests.Session`` is shared by the account's job threads). pybit is tamed so it
never sleeps or retries inside our threads: ``max_retries=1``, ``force_retry=False``,
a ``retry_codes`` set holding only a sentinel no response can carry (an empty set
would bring back pybit's defaults, including the 10006 path that crashes on a past
reset header) and ``retry_delay=0``. Waiting and retrying belong to the callers,
guided by the error family in ``errors.py``; this client raises and never retries.

``log_requests`` stays off (it logs the API key and signature), and the handler
pybit attaches to its own logger when the root logger has none is removed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import requests
from pybit.unified_trading import HTTP

from p2pilot.exchange import parse
from p2pilot.exchange import requests as req
from p2pilot.exchange.budget import RequestBudget
from p2pilot.exchange.errors import RateLimited
from p2pilot.exchange.failures import exchange_error, header
from p2pilot.exchange.recent import ParsedRows, RecentDetails
from p2pilot.exchange.records import (
    Ad,
    AdSide,
    ChatMessage,
    ChatSession,
    OnlineAd,
    OrderDetail,
    OrderStatus,
    OrderSummary,
    Page,
    PaymentTerm,
    UploadedFile,
    UserProfile,
)
from p2pilot.exchange.requests import AdParams
from p2pilot.logging import get_logger

T = TypeVar("T")
Kind = Literal["read", "write"]

log = get_logger(__name__)

PYBIT_LOGGER = "pybit._http_manager"
# A code no response can carry (the exchange's codes are ints): keeps pybit's retry set
# non-empty without ever matching, so pybit never sleeps in our threads.
NO_RETRY_CODES = frozenset({"p2pilot:never-retry"})
_construct_lock = threading.Lock()


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


def _new_session(**settings: Any) -> Any:
    """A pybit HTTP session, without the StreamHandler pybit may attach to its logger."""
    logger = logging.getLogger(PYBIT_LOGGER)
    with _construct_lock:
        before = list(logger.handlers)
        session = HTTP(**settings)
        for handler in list(logger.handlers):
            if handler not in before:
                logger.removeHandler(handler)
    logger.propagate = True
    _read_environment_once(session.client)
    return session


def _read_environment_once(http: requests.Session) -> None:
    """Stop requests re-reading proxy settings from the environment on every call.

    That lookup walks ``os.environ`` per request: a third of an idle orders tick's
    CPU on a desk with a thousand open orders (bench/tick_cpu.py). With no proxy
    configured there is nothing to re-read; a CA bundle named in the environment
    is kept. With a proxy set, requests keeps doing it, as it must.
    """
    if urllib.request.getproxies():
        return
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        http.verify = bundle
    http.trust_env = False


class ExchangeClient:
    """Typed, synchronous access to one account's Bybit P2P API."""

    def __init__(
        self,
        *,
        account: str,
        api_key: str,
        api_secret: str,
        base_url: str | None = None,
        testnet: bool = False,
        timeout: float = 10.0,
        recv_window: int = 5000,
        on_call: CallHook | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        self.account = account
        self.timeout = timeout
        self.budget = budget or RequestBudget()
        self.recent_details = RecentDetails()
        # Not locked: a hit needs an identical row, so a race can only cost a parse.
        self._pending_rows: ParsedRows[OrderSummary] = ParsedRows()
        self._order_rows: ParsedRows[OrderSummary] = ParsedRows()
        self._secrets = (api_key, api_secret)
        self._on_call = on_call
        self._session = _new_session(
            testnet=testnet,
            api_key=api_key,
            api_secret=api_secret,
            timeout=timeout,
            recv_window=recv_window,
            max_retries=1,
            retry_delay=0,
            force_retry=False,
            retry_codes=set(NO_RETRY_CODES),
            log_requests=False,
            return_response_headers=True,
        )
        if base_url:
            # pybit has no base_url argument; every call formats f"{endpoint}{path}".
            self._session.endpoint = base_url.rstrip("/")
        self.base_url: str = self._session.endpoint

    def __repr__(self) -> str:
        return f"ExchangeClient(account={self.account!r}, base_url={self.base_url!r})"

    # ---- plumbing ------------------------------------------------------------

    def _call(
        self, endpoint: str, kind: Kind, send: Callable[[], Any], read: Callable[[Any], T]
    ) -> T:
        self.budget.before(kind, endpoint)
        started = time.monotonic()
        outcome, remaining, ip_ban = "ok", None, False
        try:
            try:
                response = send()
            except Exception as exc:
                mapped = exchange_error(
                    exc, endpoint=endpoint, write=kind == "write", secrets=self._secrets
                )
                if mapped is None:
                    raise
                self.budget.after(mapped)
                raise mapped from exc
            payload, headers = response, None
            if isinstance(response, tuple) and response:
                payload, headers = response[0], response[-1]
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

    def _post(self, path: str, body: req.Body) -> Any:
        """POST to a path pybit 5.17 does not wrap, through pybit's own signed request."""
        return self._session._submit_request(
            method="POST", path=f"{self._session.endpoint}{path}", query=body, auth=True
        )

    def _action(self, path: str, send: Callable[[], Any]) -> None:
        self._call(path, "write", send, lambda payload: parse.check_action(payload, path))

    # ---- account ---------------------------------------------------------------

    def account_info(self) -> UserProfile:
        """Our own P2P profile (``user/personal/info``)."""
        return self._call(
            req.ACCOUNT_INFO,
            "read",
            lambda: self._session.get_account_information(),
            parse.parse_user_profile,
        )

    def payment_methods(self) -> list[PaymentTerm]:
        """Our saved payment methods (``user/payment/list``)."""
        return self._call(
            req.PAYMENT_METHODS,
            "read",
            lambda: self._session.get_user_payment_types(),
            parse.parse_payment_terms,
        )

    def counterparty_info(self, *, user_id: str, order_id: str) -> UserProfile:
        """A counterparty's profile as seen through one of our orders."""
        body = {"originalUid": str(user_id), "orderId": str(order_id)}
        return self._call(
            req.COUNTERPARTY_INFO,
            "read",
            lambda: self._session.get_counterparty_info(**body),
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
            lambda: self._session.get_pending_orders(**body),
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
            lambda: self._session.get_orders(**body),
            lambda payload: parse.parse_order_page(payload, req.ORDERS, self._order_rows),
        )

    def order_detail(self, order_id: str) -> OrderDetail:
        """One order in full (``order/info``); kept a moment in ``recent_details``."""
        sent_at = self.recent_details.now()
        detail = self._call(
            req.ORDER_DETAIL,
            "read",
            lambda: self._session.get_order_details(orderId=str(order_id)),
            parse.parse_order_detail,
        )
        self.recent_details.put(detail, sent_at)
        return detail

    def release(self, order_id: str) -> None:
        """Release the crypto to the buyer (``order/finish``)."""
        try:
            self._action(req.RELEASE, lambda: self._session.release_assets(orderId=str(order_id)))
        finally:
            # Whatever was read before is stale now, or may be.
            self.recent_details.forget(order_id)

    def mark_paid(self, *, order_id: str, payment_type: int, payment_id: str) -> None:
        """Mark an order we buy in as paid (``order/pay``)."""
        body = req.mark_paid_body(
            order_id=order_id, payment_type=payment_type, payment_id=payment_id
        )
        try:
            self._action(req.MARK_PAID, lambda: self._session.mark_as_paid(**body))
        finally:
            self.recent_details.forget(order_id)

    # ---- chat ------------------------------------------------------------------

    def chat_messages(self, order_id: str, *, page: int = 1, size: int = 30) -> list[ChatMessage]:
        """One page of an order's chat (``order/message/listpage``)."""
        body = req.chat_messages_body(order_id, page=page, size=size)
        return self._call(
            req.CHAT_MESSAGES,
            "read",
            lambda: self._session.get_chat_messages(**body),
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
        self._action(req.SEND_CHAT_MESSAGE, lambda: self._session.send_chat_message(**body))

    def upload_chat_file(self, *, data: bytes, filename: str) -> UploadedFile:
        """Upload a file for chat; send the returned URL as a pic/pdf/video message."""
        if not filename:
            raise ValueError("filename is required")
        return self._call(
            req.UPLOAD_CHAT_FILE,
            "write",
            lambda: self._session.upload_chat_file(upload_file=bytes(data), filename=filename),
            parse.parse_uploaded_file,
        )

    def chat_session_id(self, user_mask_id: str) -> str:
        """The session-chat id for one counterparty (``chat/session/getSessionId``)."""
        body = {"userMaskId": str(user_mask_id)}
        return self._call(
            req.CHAT_SESSION_ID,
            "read",
            lambda: self._post(req.CHAT_SESSION_ID, body),
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
            lambda: self._post(req.CHAT_SESSIONS, body),
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
            lambda: self._post(req.SESSION_MESSAGES, body),
            parse.parse_session_messages,
        )

    def send_session_message(
        self, *, order_id: str, session_id: str, text: str, content_type: str = "str"
    ) -> None:
        """Send a message through the session chat (``send_v1``)."""
        body = req.send_session_body(
            order_id=order_id, session_id=session_id, text=text, content_type=content_type
        )
        self._action(req.SEND_SESSION_MESSAGE, lambda: self._post(req.SEND_SESSION_MESSAGE, body))

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
        return self._call(
            req.MY_ADS, "read", lambda: self._session.get_ads_list(**body), parse.parse_ad_page
        )

    def ad_detail(self, ad_id: str) -> Ad:
        """One of our ads (``item/info``)."""
        return self._call(
            req.AD_DETAIL,
            "read",
            lambda: self._session.get_ad_details(itemId=str(ad_id)),
            parse.parse_ad,
        )

    def create_ad(self, params: AdParams) -> str:
        """Post a new ad; returns its id."""
        body = params.create_body()
        return self._call(
            req.CREATE_AD,
            "write",
            lambda: self._session.post_new_ad(**body),
            parse.parse_created_ad_id,
        )

    def update_ad(
        self, ad_id: str, params: AdParams, *, action: Literal["MODIFY", "ACTIVE"] = "MODIFY"
    ) -> None:
        """Modify an online ad, or relist (``ACTIVE``) one the exchange took offline."""
        body = params.update_body(ad_id, action)
        self._action(req.UPDATE_AD, lambda: self._session.update_ad(**body))

    def remove_ad(self, ad_id: str) -> None:
        """Delete an ad (there is no pause; relisting means creating a new one)."""
        self._action(req.REMOVE_AD, lambda: self._session.remove_ad(itemId=str(ad_id)))

    def online_ads(
        self, *, token: str, currency: str, side: AdSide, page: int = 1, size: int = 100
    ) -> Page[OnlineAd]:
        """One page of the public order book (``item/online``), by advertiser side."""
        body = req.online_ads_body(token=token, currency=currency, side=side, page=page, size=size)
        return self._call(
            req.ONLINE_ADS,
            "read",
            lambda: self._session.get_online_ads(**body),
            parse.parse_online_ad_page,
        )
