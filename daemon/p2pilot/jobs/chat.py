"""The chat job: store every new chat message once, and emit ``chat.message`` for the buyer's.

Which chats are read, so that an idle desk costs no chat call, on per-order chat:

- an open order whose unread counter, from the orders job's last pending list, is
  above zero (also the first time this process meets it: what was written while
  it was down is unread);
- an open order the pending list does not show (no counter): when first met, then
  at most every ``SLOW_RECHECK``;
- a finished order once after it finished, while within ``[chat] linger``;
- in ``auto`` mode, one open order's chat every ``PROBE_EVERY`` (and when first
  met): nothing says a buyer's session message raises the order list's counter,
  so a desk whose per-order routes are gone would otherwise never find out.

On session chat the order list's counter is never used: ``chat/session/list_v1``
says which sessions hold unread messages (one call a chat tick while an order is
open, every ``SLOW_RECHECK`` while only finished ones linger, none when nothing is
watched), and only those are read. One read covers every order with that
counterparty; a message that names no order is attributed to the latest of those
orders created before it. A message is stored once per account and message id, whatever page or
order brought it. Only messages from the counterparty (not ours, not system
notices) become events, and not those written long before the daemon first saw
the order: a first start on an old desk must not answer last week's chat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from p2pilot.chat.channel import ChatChannel, ChatTarget, KnownIds
from p2pilot.exchange.errors import AuthError, ExchangeError, RateLimited
from p2pilot.logging import get_logger
from p2pilot.records import ChatApi, ChatMessage, ChatRole, ChatSession
from p2pilot.store import chat as stored_chat
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event
from p2pilot.store.models import AccountRow, OrderRow
from p2pilot.store.orders import FINAL_CODES, OPEN_CODES, event_payload

log = get_logger(__name__)
W = TypeVar("W")  # where a chat read looks: an order's chat or a session

CHAT_MESSAGE = "chat.message"
SLOW_RECHECK = timedelta(minutes=1)
# auto mode on per-order chat: how often one open order's chat is read to learn
# whether the per-order routes still answer.
PROBE_EVERY = timedelta(minutes=10)
# Messages written this long before the daemon first saw their order are history.
HISTORY_MARGIN = timedelta(minutes=10)
ATTRIBUTION_SKEW = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class Watched:
    """What the chat job needs of an order to decide whether its chat is due."""

    pk: int
    exchange_id: str
    status: int
    updated_at: datetime
    mask_id: str
    nickname: str


@dataclass
class ChatJob:
    """Poll one account's chats into the store."""

    account: str
    account_id: int
    channel: ChatChannel
    store: Store
    clock: Callable[[], datetime]
    unread: Callable[[], Mapping[str, int] | None]  # the orders job's latest counters
    linger: timedelta = timedelta(minutes=10)
    _checked: dict[str, datetime] = field(default_factory=dict, repr=False)
    _probed_at: datetime | None = field(default=None, repr=False)
    _sessions_at: datetime | None = field(default=None, repr=False)
    # session id -> (unread count, when read): a session the exchange does not mark
    # read after we read it is read again only when its count moves, or a minute on.
    _session_reads: dict[str, tuple[int, datetime]] = field(default_factory=dict, repr=False)

    def __call__(self) -> None:
        self.tick()

    def tick(self) -> int:
        """Run one tick; returns how many new messages were stored."""
        now = self.clock()
        watched, identity = self._candidates(now)
        if self._on_sessions():
            return self._tick_sessions(watched, identity, now)
        groups: dict[str, list[Watched]] = {}
        for order in watched:
            if order.mask_id:
                groups.setdefault(order.mask_id, []).append(order)
        stored = 0
        done: set[str] = set()
        probe = self._probe_due(now)
        for order in watched:
            if order.exchange_id in done:
                continue
            due = self._is_due(order, now) or (probe and order.status not in FINAL_CODES)
            if not due:
                continue
            if self.channel.api == ChatApi.ORDER:
                probe, self._probed_at = False, now
            target = ChatTarget(order.exchange_id, order.mask_id, order.nickname)
            messages = self._read(order.exchange_id, self.channel.new_messages, target)
            if messages is None:
                continue
            # On session chat one read covered every order with this counterparty.
            # (A read may have switched the account to session chat just now.)
            session_api = self._on_sessions() and order.mask_id
            group = groups[order.mask_id] if session_api else [order]
            stored += self._write(messages, order.pk, identity, now)
            for member in group:
                self._checked[member.exchange_id] = now
                done.add(member.exchange_id)
        return stored

    def _read(
        self, order_id: str, read: Callable[[W, KnownIds], list[ChatMessage]], where: W
    ) -> list[ChatMessage] | None:
        """The new messages ``read`` finds ``where``; None, logged, when the exchange failed."""
        try:
            return read(where, self._known)
        except (AuthError, RateLimited):
            raise  # the runner pauses or disables the whole job
        except ExchangeError as exc:
            log.warning("chat.read_failed", account=self.account, order_id=order_id, error=str(exc))
            return None

    def _on_sessions(self) -> bool:
        return self.channel.api == ChatApi.SESSION

    def _tick_sessions(
        self, watched: list[Watched], identity: tuple[str, str], now: datetime
    ) -> int:
        """Session chat: read the sessions ``list_v1`` says hold unread messages."""
        if not watched:
            return 0
        lingering_only = all(o.status in FINAL_CODES for o in watched)
        if lingering_only and self._sessions_at and now - self._sessions_at < SLOW_RECHECK:
            return 0
        self._sessions_at = now
        try:
            sessions = self.channel.unread_sessions()
        except (AuthError, RateLimited):
            raise
        except ExchangeError as exc:
            log.warning("chat.sessions_failed", account=self.account, error=str(exc))
            return 0
        self._session_reads = {
            s.session_id: self._session_reads[s.session_id]
            for s in sessions
            if s.session_id in self._session_reads
        }
        stored = 0
        for session in sessions:
            read = self._session_reads.get(session.session_id)
            if read and read[0] == session.unread_count and now - read[1] < SLOW_RECHECK:
                continue  # read already: the exchange has not marked it read
            orders = [o for o in watched if self._in_session(o, session)]
            if not orders:
                continue  # a counterparty of an order no longer watched
            polled = max(orders, key=lambda o: o.pk)
            messages = self._read(
                polled.exchange_id, self.channel.session_messages, session.session_id
            )
            if messages is None:
                continue
            stored += self._write(messages, polled.pk, identity, now)
            self._session_reads[session.session_id] = (session.unread_count, now)
        return stored

    def _in_session(self, order: Watched, session: ChatSession) -> bool:
        """The session is this order's: found for it before, or named after its counterparty."""
        if self.channel.known_session(order.mask_id, order.exchange_id) == session.session_id:
            return True
        return bool(order.nickname) and order.nickname == session.name

    # -- which chats ----------------------------------------------------------------

    def _candidates(self, now: datetime) -> tuple[list[Watched], tuple[str, str]]:
        """Open orders and those finished within ``linger``, as a few columns each.

        On a busy desk that is thousands of orders every tick, of which a handful
        are due: full rows are loaded only for chats that brought messages. Two
        queries, so each uses its index (an OR of both reads every order).
        """
        columns = select(
            OrderRow.id,
            OrderRow.exchange_id,
            OrderRow.status,
            OrderRow.updated_at,
            OrderRow.counterparty_mask_id,
            OrderRow.counterparty_nickname,
        ).where(OrderRow.account_id == self.account_id)
        found: dict[int, Watched] = {}
        with self.store.transaction(read_only=True) as session:
            for statement in (
                columns.where(OrderRow.status.in_(OPEN_CODES)),
                columns.where(OrderRow.updated_at >= now - self.linger),
            ):
                for pk, exchange_id, status, updated_at, mask_id, nickname in session.execute(
                    statement
                ):
                    found[pk] = Watched(
                        pk, exchange_id, status, updated_at, mask_id or "", nickname or ""
                    )
            account = session.get(AccountRow, self.account_id)
            identity = (account.user_id or "", account.nickname or "") if account else ("", "")
        watched = sorted(found.values(), key=lambda w: w.pk)
        # Forget orders that left the window: the map would otherwise grow forever.
        current = {w.exchange_id for w in watched}
        self._checked = {k: v for k, v in self._checked.items() if k in current}
        return watched, identity

    def _probe_due(self, now: datetime) -> bool:
        """auto mode, still on per-order chat, and no per-order read for a while."""
        if self.channel.mode != "auto" or self.channel.api != ChatApi.ORDER:
            return False
        return self._probed_at is None or now - self._probed_at >= PROBE_EVERY

    def _is_due(self, order: Watched, now: datetime) -> bool:
        checked = self._checked.get(order.exchange_id)
        if order.status in FINAL_CODES:
            return checked is None or checked < order.updated_at  # one read after it finished
        counters = self.unread()
        if counters is not None and order.exchange_id in counters:
            # The pending list's counter is the cheapest truth: nothing unread, no call.
            return counters[order.exchange_id] > 0
        return checked is None or now - checked >= SLOW_RECHECK

    def _known(self, ids: list[str]) -> set[str]:
        with self.store.transaction(read_only=True) as session:
            return stored_chat.known_ids(session, self.account_id, ids)

    # -- storing --------------------------------------------------------------------

    def _write(
        self, messages: list[ChatMessage], polled_pk: int, identity: tuple[str, str], now: datetime
    ) -> int:
        if not messages:
            return 0
        with self.store.transaction() as session:
            polled = session.get(OrderRow, polled_pk, options=[defer(OrderRow.raw)])
            if polled is None:
                return 0
            orders = self._session_orders(session, polled) if self.channel.api == "session" else []
            attributed = [_attribute(m, polled, orders) for m in messages]
            inserted = stored_chat.store_messages(session, self.account_id, attributed)
            by_id = {r.exchange_id: r for r in [*orders, polled]}
            for message in inserted:
                order = by_id.get(message.order_id)
                if order is None or not _from_counterparty(message, identity):
                    continue
                if message.created_at < order.first_seen_at - HISTORY_MARGIN:
                    continue
                append_event(
                    session,
                    account_id=self.account_id,
                    order_pk=order.id,
                    type=CHAT_MESSAGE,
                    payload=event_payload(self.account, order)
                    | {
                        "text": message.text,
                        "message_id": message.id,
                        "sender": message.sender_nickname,
                        "content_type": message.content_type,
                        "message_at": message.created_at.isoformat(),
                        "api": str(message.api),
                    },
                    at=now,
                )
        if inserted:
            log.info(
                "chat.stored",
                account=self.account,
                order_id=polled.exchange_id,
                messages=len(inserted),
                api=str(self.channel.api),
            )
        return len(inserted)

    def _session_orders(self, session: Session, polled: OrderRow) -> list[OrderRow]:
        """Every order with the polled order's counterparty: one session holds them all.

        By mask id; by nickname for an order whose detail names no mask id.
        """
        if polled.counterparty_mask_id:
            same = OrderRow.counterparty_mask_id == polled.counterparty_mask_id
        elif polled.counterparty_nickname:
            same = OrderRow.counterparty_nickname == polled.counterparty_nickname
        else:
            return []
        rows = session.scalars(
            select(OrderRow)
            .options(defer(OrderRow.raw))
            .where(OrderRow.account_id == self.account_id, same)
        )
        return list(rows)


def _attribute(message: ChatMessage, polled: OrderRow, orders: list[OrderRow]) -> ChatMessage:
    """Give a message that names no order the counterparty's latest order before it."""
    if message.order_id:
        return message
    earlier = [o for o in orders if o.created_at <= message.created_at + ATTRIBUTION_SKEW]
    owner = max(earlier, key=lambda o: o.created_at) if earlier else polled
    return replace(message, order_id=owner.exchange_id)


def _from_counterparty(message: ChatMessage, identity: tuple[str, str]) -> bool:
    """A person wrote it, and that person is not us."""
    user_id, nickname = identity
    if message.role != ChatRole.USER or message.msg_uuid:
        return False  # system notices; anything carrying our msgUuid is ours
    if user_id and message.sender_user_id == user_id:
        return False
    return not (nickname and message.sender_nickname == nickname)
