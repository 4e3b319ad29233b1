"""One account's chat, on whichever of Bybit's two chat APIs it must use.

Per-order chat (``order/message/*``) is what pybit 5.17 wraps; Bybit has been
shutting it (``912200387``) in favour of session chat (``chat/message/*_v1``),
where one conversation holds every order with a counterparty and messages name
no order and carry no ``msgUuid``. In ``auto`` mode the channel uses per-order
chat until the exchange answers 912200387, then switches for good (the switch
is stored) and repeats the refused call on the session API — safe, because a
refused call did nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from p2pilot.exchange import requests as paths
from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import ChatApiClosed, TransientError
from p2pilot.exchange.records import ChatApi, ChatMessage
from p2pilot.logging import get_logger

log = get_logger(__name__)

PAGE_SIZE = 30  # both chat APIs cap a page at 30
MAX_PAGES = 10  # per read: a chat longer than 300 new messages is not a P2P chat
CLOCK_SKEW = timedelta(minutes=2)


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
        client: ExchangeClient,
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
        try:
            return self._read(target, known)
        except ChatApiClosed:
            if not self._switch():
                raise
            return self._read(target, known)

    def _read(self, target: ChatTarget, known: KnownIds) -> list[ChatMessage]:
        found: dict[str, ChatMessage] = {}
        if self._session_api:
            session_id = self._session_id(target)
            last_id: str | None = None
            for _ in range(MAX_PAGES):
                page = self.client.session_messages(session_id, limit=PAGE_SIZE, last_id=last_id)
                if self._collect(page, found, known) or len(page) < PAGE_SIZE:
                    break
                last_id = min((m.id for m in page), key=_numeric)
        else:
            for number in range(1, MAX_PAGES + 1):
                page = self.client.chat_messages(target.order_id, page=number, size=PAGE_SIZE)
                if self._collect(page, found, known) or len(page) < PAGE_SIZE:
                    break
        return sorted(found.values(), key=lambda m: (m.created_at, _numeric(m.id)))

    @staticmethod
    def _collect(page: list[ChatMessage], found: dict[str, ChatMessage], known: KnownIds) -> bool:
        """Add the page's new messages; True when the page reached stored history."""
        already = known([m.id for m in page])
        for message in page:
            if message.id not in already:
                found.setdefault(message.id, message)
        return bool(already)

    def _session_id(self, target: ChatTarget) -> str:
        mask_id = target.counterparty_mask_id or self._read_mask_id(target.order_id)
        with self._lock:
            cached = self._sessions.get(mask_id)
        if cached is not None:
            return cached
        session_id = self.client.chat_session_id(mask_id)
        with self._lock:
            self._sessions[mask_id] = session_id
        return session_id

    def _read_mask_id(self, order_id: str) -> str:
        """The counterparty's mask id from ``order/info``, for an order stored from a list row.

        Only the detail names it; the orders job reads (and stores) that detail soon,
        but a greeting or a chat read should not wait for it. Not cached: once stored,
        the target carries it.
        """
        mask_id = self.client.order_detail(order_id).counterparty_mask_id
        if not mask_id:
            raise TransientError(
                f"order {order_id} names no counterparty mask id",
                endpoint=paths.ORDER_DETAIL,
            )
        return mask_id

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
        try:
            return self._send(target, text, msg_uuid, content_type, file_name)
        except ChatApiClosed:
            if not self._switch():
                raise
            return self._send(target, text, msg_uuid, content_type, file_name)

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

        try:
            page = self._first_page(target)
        except ChatApiClosed:
            if not self._switch():
                raise
            page = self._first_page(target)
        return any(ours(m) for m in page)

    def _first_page(self, target: ChatTarget) -> list[ChatMessage]:
        if self._session_api:
            return self.client.session_messages(self._session_id(target), limit=PAGE_SIZE)
        return self.client.chat_messages(target.order_id, size=PAGE_SIZE)

    # -- the switch ----------------------------------------------------------------

    def _switch(self) -> bool:
        """Move to session chat for good (auto mode only); False when not allowed."""
        if self.mode != "auto":
            return False
        with self._lock:
            if self._session_api:
                return True
            self._session_api = True
        log.warning(
            "chat.switched_to_session",
            account=self.account,
            reason="Bybit answered 912200387: per-order chat is closed for this account",
        )
        self._on_switch()
        return True


def _numeric(message_id: str) -> int:
    return int(message_id) if message_id.isdigit() else 0
