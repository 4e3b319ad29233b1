"""The chat job: store every new chat message once, and emit ``chat.message`` for the buyer's.

Which chats are read, so that an idle desk costs no chat call:

- an open order whose unread counter, from the orders job's last pending list, is
  above zero (also the first time this process meets it: what was written while
  it was down is unread);
- an open order the pending list does not show (no counter): when first met, then
  at most every ``SLOW_RECHECK``;
- a finished order once after it finished, while within ``[chat] linger``.

On session chat one read covers every order with that counterparty; a message
that names no order is attributed to the latest of those orders created before
it. A message is stored once per account and message id, whatever page or
order brought it. Only messages from the counterparty (not ours, not system
notices) become events, and not those written long before the daemon first saw
the order: a first start on an old desk must not answer last week's chat.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from p2pilot.chat.channel import ChatChannel, ChatTarget
from p2pilot.exchange.errors import AuthError, ExchangeError, RateLimited
from p2pilot.exchange.records import ChatMessage, ChatRole
from p2pilot.logging import get_logger
from p2pilot.store import chat as stored_chat
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event
from p2pilot.store.models import AccountRow, OrderRow
from p2pilot.store.orders import FINAL_CODES, OPEN_CODES, event_payload

log = get_logger(__name__)

CHAT_MESSAGE = "chat.message"
SLOW_RECHECK = timedelta(minutes=1)
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

    def __call__(self) -> None:
        self.tick()

    def tick(self) -> int:
        """Run one tick; returns how many new messages were stored."""
        now = self.clock()
        watched, identity = self._candidates(now)
        groups: dict[str, list[Watched]] = {}
        for order in watched:
            if order.mask_id:
                groups.setdefault(order.mask_id, []).append(order)
        stored = 0
        done: set[str] = set()
        for order in watched:
            if order.exchange_id in done or not self._is_due(order, now):
                continue
            target = ChatTarget(order.exchange_id, order.mask_id, order.nickname)
            try:
                messages = self.channel.new_messages(target, self._known)
            except (AuthError, RateLimited):
                raise  # the runner pauses or disables the whole job
            except ExchangeError as exc:
                log.warning(
                    "chat.read_failed",
                    account=self.account,
                    order_id=order.exchange_id,
                    error=str(exc),
                )
                continue
            # On session chat one read covered every order with this counterparty.
            session_api = self.channel.api == "session" and order.mask_id
            group = groups[order.mask_id] if session_api else [order]
            stored += self._write(messages, order.pk, identity, now)
            for member in group:
                self._checked[member.exchange_id] = now
                done.add(member.exchange_id)
        return stored

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
        """Every order with the polled order's counterparty: one session holds them all."""
        if not polled.counterparty_mask_id:
            return []
        rows = session.scalars(
            select(OrderRow)
            .options(defer(OrderRow.raw))
            .where(
                OrderRow.account_id == self.account_id,
                OrderRow.counterparty_mask_id == polled.counterparty_mask_id,
            )
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
