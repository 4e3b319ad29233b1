"""One account's chat, on whichever of Bybit's two chat APIs it must use.

Per-order chat (``order/message/*``) is what pybit 5.17 wraps; Bybit has been
shutting it in favour of session chat (``chat/message/*_v1``), where one
conversation holds every order with a counterparty and messages name no order
and carry no ``msgUuid``. Nobody knows what the removed routes will answer, so
in ``auto`` mode any of ``912200387``, an HTTP 404 (or ``10017``) and a code the
reference does not know, from a per-order route, switches the account to
session chat for good (the switch is stored) and repeats the refused call on
the session API — safe, because a refused call did nothing.

Session chat needs the counterparty's ``targetUserMaskId``, which only newer
order-detail pages name. An order without it finds its session in
``chat/session/list_v1``, which names each session by the counterparty's nickname.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from p2pilot.clocks import CLOCK_SKEW
from p2pilot.exchange import requests as paths
from p2pilot.exchange.errors import ChatApiClosed, Rejected, RouteNotFound, TransientError
from p2pilot.exchange.failures import is_documented
from p2pilot.exchange.port import Exchange
from p2pilot.logging import get_logger
from p2pilot.records import ChatApi, ChatMessage, ChatSession

log = get_logger(__name__)
T = TypeVar("T")

PAGE_SIZE = 30  # both chat APIs cap a page at 30 (list_v1 refuses 50: 913100009)
MAX_PAGES = 10  # per read: a chat longer than 300 new messages is not a P2P chat
ORDER_CHAT_PATHS = frozenset({paths.CHAT_MESSAGES, paths.SEND_CHAT_MESSAGE})
MAX_ORDER_SESSIONS = 500
READ_STATUS_UNREAD, READ_STATUS_ALL = 0, 2  # list_v1's readStatus, as clients report it


def gone_reason(exc: Rejected) -> str | None:
    """Why a refused per-order chat call means that API is gone; None: only this call failed."""
    if exc.endpoint not in ORDER_CHAT_PATHS:
        return None
    if isinstance(exc, ChatApiClosed):
        return "Bybit answered 912200387: per-order chat is closed for this account"
    if isinstance(exc, RouteNotFound):
        answer = "HTTP 404" if exc.code is None else f"code {exc.code}"
        return f"the per-order chat route answered {answer}: Bybit removed it"
    if exc.code is not None and not is_documented(exc.code):
        return (
            f"the per-order chat route answered code {exc.code}, which no reference "
            "documents: taken as Bybit moving chat to sessions"
        )
    return None


@dataclass(frozen=True, slots=True)
class ChatTarget:
    """What the channel needs to know of an order to reach its chat."""

    order_id: str
    counterparty_mask_id: str
    counterparty_nickname: str


KnownIds = Callable[[list[str]], set[str]]


class ChatChannel:
    """Reads and writes one account's chats; thread-safe (chat job and rule engine)."""

    def __init__(
        self,
        client: Exchange,
        *,
        account: str,
        mode: str = "auto",
        switched: bool = False,
        on_switch: Callable[[], None] = lambda: None,
    ) -> None:
        if mode not in ("auto", "order", "session"):
            raise ValueError(f"unknown chat api mode {mode!r}")
        self.client = client
        self.account = account
        self.mode = mode
        self._on_switch = on_switch
        self._session_api = mode == "session" or (mode == "auto" and switched)
        self._sessions: dict[str, str] = {}  # counterparty mask id -> session id
        self._by_order: dict[str, str] = {}  # order id -> session id, once found
        self._lock = threading.Lock()

    @property
    def api(self) -> ChatApi:
        """The API in use now."""
        return ChatApi.SESSION if self._session_api else ChatApi.ORDER

    # -- reading -------------------------------------------------------------------

    def new_messages(self, target: ChatTarget, known: KnownIds) -> list[ChatMessage]:
        """Messages not stored yet, oldest first: pages back until one holds a known id.

        Session-chat messages may belong to any order with this counterparty; their
        ``order_id`` is whatever the row says (often ``""``): the caller attributes.
        """
        return self._switching(lambda: self._read(target, known))

    def _read(self, target: ChatTarget, known: KnownIds) -> list[ChatMessage]:
        if self._session_api:
            return self.session_messages(self._session_id(target), known)
        found: dict[str, ChatMessage] = {}
        for number in range(1, MAX_PAGES + 1):
            page = self.client.chat_messages(target.order_id, page=number, size=PAGE_SIZE)
            if self._collect(page, found, known) or len(page) < PAGE_SIZE:
                break
        return _oldest_first(found)

    def session_messages(self, session_id: str, known: KnownIds) -> list[ChatMessage]:
        """A session's messages not stored yet, oldest first; ``lastId`` only to page back."""
        found: dict[str, ChatMessage] = {}
        last_id: str | None = None
        for _ in range(MAX_PAGES):
            page = self.client.session_messages(session_id, limit=PAGE_SIZE, last_id=last_id)
            if self._collect(page, found, known) or len(page) < PAGE_SIZE:
                break
            last_id = min((m.id for m in page), key=_numeric)
        return _oldest_first(found)

    def unread_sessions(self) -> list[ChatSession]:
        """Sessions with unread messages (``list_v1``'s ``unreadCount``): one call a tick.

        Asks for unread sessions only; a full page whose rows are all unread may
        go on, so a server that ignores ``readStatus`` costs no more than one call.
        """
        found: list[ChatSession] = []
        last_id: str | None = None
        for _ in range(MAX_PAGES):
            page = self.client.chat_sessions(
                size=PAGE_SIZE, last_id=last_id, read_status=READ_STATUS_UNREAD
            )
            unread = [s for s in page if s.unread_count > 0]
            found.extend(unread)
            if len(page) < PAGE_SIZE or len(unread) < len(page) or not page[-1].id.isdigit():
                break
            last_id = page[-1].id
        return found

    def known_session(self, mask_id: str, order_id: str) -> str | None:
        """The session id already found for this counterparty or order, without a call."""
        with self._lock:
            return self._sessions.get(mask_id) or self._by_order.get(order_id)

    @staticmethod
    def _collect(page: list[ChatMessage], found: dict[str, ChatMessage], known: KnownIds) -> bool:
        """Add the page's new messages; True when the page reached stored history."""
        already = known([m.id for m in page])
        for message in page:
            if message.id not in already:
                found.setdefault(message.id, message)
        return bool(already)

    def _session_id(self, target: ChatTarget) -> str:
        with self._lock:
            cached = self._by_order.get(target.order_id) or self._sessions.get(
                target.counterparty_mask_id
            )
        if cached is not None:
            return cached
        mask_id = target.counterparty_mask_id or self._read_mask_id(target.order_id)
        if mask_id:
            with self._lock:
                cached = self._sessions.get(mask_id)
            session_id = cached or self.client.chat_session_id(mask_id)
        else:
            session_id = self._session_by_nickname(target)
        with self._lock:
            if mask_id:
                self._sessions[mask_id] = session_id
            else:
                # Found by nickname: remembered per order, the newest few hundred only.
                self._by_order[target.order_id] = session_id
                while len(self._by_order) > MAX_ORDER_SESSIONS:
                    del self._by_order[next(iter(self._by_order))]
        return session_id

    def _read_mask_id(self, order_id: str) -> str:
        """The counterparty's mask id from ``order/info``, for an order stored without one.

        An order stored from a list row has none yet (the orders job reads its detail
        soon, but a greeting should not wait); one whose detail page does not name
        ``targetUserMaskId`` (the docs' own field table lacks it) has ``""`` here too.
        """
        return self.client.order_detail(order_id).counterparty_mask_id

    def _session_by_nickname(self, target: ChatTarget) -> str:
        """The session ``list_v1`` names after the counterparty: for orders without a mask id."""
        nickname = target.counterparty_nickname
        if nickname:
            last_id: str | None = None
            for _ in range(MAX_PAGES):
                page = self.client.chat_sessions(
                    size=PAGE_SIZE, last_id=last_id, read_status=READ_STATUS_ALL
                )
                match = next((s for s in page if s.name == nickname), None)
                if match is not None:
                    log.info(
                        "chat.session_by_nickname",
                        account=self.account,
                        order_id=target.order_id,
                        counterparty=nickname,
                        reason="the order names no targetUserMaskId: its chat session "
                        "was found by the counterparty's nickname in chat/session/list_v1",
                    )
                    return match.session_id
                if len(page) < PAGE_SIZE or not page[-1].id.isdigit():
                    break
                last_id = page[-1].id
        raise TransientError(
            f"order {target.order_id} names no counterparty mask id, and no chat session "
            f"is named after its counterparty {nickname!r}",
            endpoint=paths.CHAT_SESSIONS,
        )

    # -- writing -------------------------------------------------------------------

    def send(
        self,
        target: ChatTarget,
        *,
        text: str,
        msg_uuid: str,
        content_type: str = "str",
        file_name: str | None = None,
    ) -> ChatApi:
        """Send one message; returns the API it went through."""
        return self._switching(lambda: self._send(target, text, msg_uuid, content_type, file_name))

    def _send(
        self,
        target: ChatTarget,
        text: str,
        msg_uuid: str,
        content_type: str,
        file_name: str | None,
    ) -> ChatApi:
        if self._session_api:
            self.client.send_session_message(
                order_id=target.order_id,
                session_id=self._session_id(target),
                text=text,
                content_type=content_type,
            )
            return ChatApi.SESSION
        self.client.send_chat_message(
            order_id=target.order_id,
            text=text,
            msg_uuid=msg_uuid,
            content_type=content_type,
            file_name=file_name,
        )
        return ChatApi.ORDER

    def find_sent(
        self,
        target: ChatTarget,
        *,
        msg_uuid: str,
        text: str,
        our_nickname: str,
        since: datetime,
    ) -> bool:
        """Whether a message we sent earlier is in the chat (after a crash or a lost answer).

        Per-order chat echoes our ``msgUuid``. Session chat has none, so a message
        from us with the same text, written after ``since``, counts as ours.
        """

        def ours(message: ChatMessage) -> bool:
            if message.msg_uuid:
                return message.msg_uuid == msg_uuid
            return (
                message.api == ChatApi.SESSION
                and message.text == text
                and bool(our_nickname)
                and message.sender_nickname == our_nickname
                and message.created_at >= since - CLOCK_SKEW
            )

        page = self._switching(lambda: self._first_page(target))
        return any(ours(m) for m in page)

    def _first_page(self, target: ChatTarget) -> list[ChatMessage]:
        if self._session_api:
            return self.client.session_messages(self._session_id(target), limit=PAGE_SIZE)
        return self.client.chat_messages(target.order_id, size=PAGE_SIZE)

    # -- the switch ----------------------------------------------------------------

    def _switching(self, call: Callable[[], T]) -> T:
        """Run ``call``; if per-order chat turns out gone, switch and run it again."""
        try:
            return call()
        except Rejected as exc:
            reason = gone_reason(exc)
            if reason is None or not self._switch(reason):
                raise
            return call()

    def _switch(self, reason: str) -> bool:
        """Move to session chat for good (auto mode only); False when not allowed."""
        if self.mode != "auto":
            return False
        with self._lock:
            if self._session_api:
                return True
            self._session_api = True
        log.warning("chat.switched_to_session", account=self.account, reason=reason)
        self._on_switch()
        return True


def _oldest_first(found: dict[str, ChatMessage]) -> list[ChatMessage]:
    return sorted(found.values(), key=lambda m: (m.created_at, _numeric(m.id)))


def _numeric(message_id: str) -> int:
    return int(message_id) if message_id.isdigit() else 0
