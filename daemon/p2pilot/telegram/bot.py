"""The Telegram bot: alerts from the outbox, taps and commands from getUpdates.

It runs in a thread of its own with its own asyncio loop, apart from the poll
jobs: a slow or absent Telegram never slows the desk. Two loops share the
loop: one reads the outbox past the bot's own cursor and sends (or edits in
place) one message per order and chat; one long-polls getUpdates and hands
each tap or command to :class:`Handlers` (the operator-command layer). Every
Bot API call that fails for the network, a 5xx or a 429 is retried with
backoff (a 429 after its ``retry_after``); the cursor moves only after the
alert went out, so nothing is lost and a restart resends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import warnings
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from p2pilot import metrics
from p2pilot.config import Config
from p2pilot.logging import get_logger
from p2pilot.store import telegram as stored
from p2pilot.store.engine import Store
from p2pilot.store.events import EventRecord
from p2pilot.telegram.calls import BACKOFF_MAX, Calls
from p2pilot.telegram.handlers import Handlers, TelegramUser
from p2pilot.telegram.render import Alert, Button, render

log = get_logger(__name__)

RELEASE_PENDING = "order.release_pending"
MAX_ANSWER = 200
# Events that edit an order's message in place even when not alerted: the order is
# over or held, so its buttons go (a chat message or a status step leaves them).
FOLLOWED = frozenset(
    {"order.completed", "order.cancelled", "order.release_held"}
)  # Telegram shows at most 200 characters of a tap's answer


def utc_now() -> datetime:
    return datetime.now(UTC)


def _rendered(event: EventRecord) -> Alert | None:
    """The event's alert; None (logged) when its payload cannot be shown.

    A payload this version cannot render must not hold every later alert back:
    it is logged and passed over, and the cursor moves on.
    """
    try:
        return render(event)
    except Exception:
        log.exception("telegram.alert_unrenderable", event_id=event.id, type=event.type)
        metrics.TELEGRAM_ALERTS.labels(event.type, "unrenderable").inc()
        return None


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """The inline keyboard of these button rows (None: no buttons)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


class TelegramBot:
    """The bot of one ``run``: :meth:`start` it after the jobs, :meth:`stop` it before."""

    def __init__(
        self,
        config: Config,
        store: Store,
        handlers: Handlers,
        *,
        clock: Callable[[], datetime] = utc_now,
        poll_timeout: int = 20,
        idle: float = 0.5,
    ) -> None:
        settings = config.telegram
        assert settings.bot_token is not None, "start the bot only when [telegram] is set"
        self.token = settings.bot_token.get_secret_value()
        self.api_url = settings.api_url.rstrip("/")
        self.chats = list(settings.chats)
        self.alerts = set(settings.alerts)
        self.store = store
        self.handlers = handlers
        self.clock = clock
        self.poll_timeout = poll_timeout
        self.idle = idle
        self._calls: Calls | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._started = threading.Event()

    # -- the thread --------------------------------------------------------------------

    def start(self) -> None:
        """Start the bot's thread; returns at once (Telegram may be unreachable)."""
        # httpx logs each request's URL, and the token is in the URL: keep it out.
        logging.getLogger("httpx").setLevel(logging.WARNING)
        # PTB warns from inside its own RetryAfter about a future type change we handle.
        warnings.filterwarnings("ignore", ".*retry_after.*", PTBDeprecationWarning)
        # The cursor exists before the thread runs: every event written from now on alerts.
        with self.store.transaction() as session:
            stored.state(session, at=self.clock())
        self._thread = threading.Thread(target=self._run, name="telegram", daemon=True)
        self._thread.start()
        self._started.wait(timeout=10)

    def stop(self) -> None:
        """Finish the alert in hand, stop polling and close the connections."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("telegram.crashed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._calls = Calls(self.store, self.clock, self.token, self._stopping)
        self._started.set()
        bot = Bot(
            self.token,
            base_url=f"{self.api_url}/bot",
            base_file_url=f"{self.api_url}/file/bot",
            request=HTTPXRequest(connect_timeout=5, read_timeout=10, write_timeout=10),
            get_updates_request=HTTPXRequest(connect_timeout=5, read_timeout=10),
        )
        log.info("telegram.starting", api_url=self.api_url, chats=self.chats)
        alerts = asyncio.create_task(self._alerts(bot))
        updates = asyncio.create_task(self._updates(bot))
        await self._stopping.wait()
        updates.cancel()  # a long poll in flight: nothing is lost, the offset is stored
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(alerts, timeout=5)  # it stops between alerts
        await asyncio.gather(updates, return_exceptions=True)
        with contextlib.suppress(TelegramError):
            await bot.shutdown()
        log.info("telegram.stopped")

    @property
    def calls(self) -> Calls:
        assert self._calls is not None, "the bot's loop is running"
        return self._calls

    # -- alerts ------------------------------------------------------------------------

    async def _alerts(self, bot: Bot) -> None:
        assert self._stopping is not None
        while not self._stopping.is_set():
            try:
                busy = await self._alert_pass(bot)
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("telegram.alerts_failed")  # e.g. the database: try again
                busy = False
            if not busy:
                try:
                    await self.calls.pause(self.idle)
                except asyncio.CancelledError:
                    return

    def _next_events(self) -> list[EventRecord]:
        with self.store.transaction() as session:
            cursor = stored.state(session, at=self.clock()).event_id
            events = stored.events_after(session, cursor)
            metrics.TELEGRAM_BACKLOG.set(stored.backlog(session, cursor))
        return [self._with_detail(event) for event in events]

    def _with_detail(self, event: EventRecord) -> EventRecord:
        """A waiting release's alert shows its guards and evidence, read as it is sent."""
        order_id = event.payload.get("order_id")
        if event.type != RELEASE_PENDING or event.type not in self.alerts or not order_id:
            return event
        payload = event.payload | self.handlers.release_detail(str(order_id))
        return dataclasses.replace(event, payload=payload)

    async def _alert_pass(self, bot: Bot) -> bool:
        """Alert every event past the cursor, in order; True if there were any."""
        assert self._stopping is not None
        events = await asyncio.to_thread(self._next_events)
        for event in events:
            if self._stopping.is_set():
                break
            alerted = event.type in self.alerts
            # Not alerted itself, a followed event edits the order's message to show
            # where it ended up.
            if alerted or (event.type in FOLLOWED and event.order_pk is not None):
                alert = _rendered(event)
                if alert is not None:
                    await self._deliver(bot, event, alert, edit_only=not alerted)
            await asyncio.to_thread(
                self.calls.write, lambda s, at, e=event.id: stored.advance_events(s, e, at=at)
            )
        return bool(events)

    async def _deliver(
        self, bot: Bot, event: EventRecord, alert: Alert, *, edit_only: bool
    ) -> None:
        for chat in self.chats:
            message_id = await asyncio.to_thread(self._message_of, alert.subject, chat)
            if message_id is None and edit_only:
                continue
            try:
                how = await self._send_or_edit(
                    bot, chat, message_id, alert, event.id, edit_only=edit_only
                )
            except (BadRequest, Forbidden) as exc:
                # Telegram's final word for this chat (blocked, no such chat): the
                # other chats still get it, and the operator sees why in the log.
                log.error("telegram.alert_refused", chat_id=chat, type=event.type, error=str(exc))
                metrics.TELEGRAM_ALERTS.labels(event.type, "refused").inc()
                continue
            metrics.TELEGRAM_ALERTS.labels(event.type, how).inc()
            log.info(
                "telegram.alert", chat_id=chat, type=event.type, how=how, subject=alert.subject
            )

    def _message_of(self, subject: str, chat: int) -> int | None:
        with self.store.transaction(read_only=True) as session:
            return stored.message_of(session, subject, chat)

    async def _send_or_edit(
        self,
        bot: Bot,
        chat: int,
        message_id: int | None,
        alert: Alert,
        event_id: int,
        *,
        edit_only: bool,
    ) -> str:
        """Edit the subject's message in place, or send it; remember which message it is."""
        markup = keyboard(alert.buttons)
        how = await self._edit(bot, chat, message_id, alert, markup, edit_only=edit_only)
        if how is None:
            sent = await self.calls.call(
                "sendMessage",
                lambda: bot.send_message(chat, alert.text, reply_markup=markup),
                chat=chat,
            )
            message_id, how = sent.message_id, "sent"
        assert message_id is not None
        mid = message_id

        def remember(session: Session, at: datetime) -> None:
            stored.remember_message(session, alert.subject, chat, mid, event_id=event_id, at=at)

        await asyncio.to_thread(self.calls.write, remember)
        return how

    async def _edit(
        self,
        bot: Bot,
        chat: int,
        message_id: int | None,
        alert: Alert,
        markup: InlineKeyboardMarkup | None,
        *,
        edit_only: bool,
    ) -> str | None:
        """ "edited" or "unchanged"; None when there is no message to edit (send one)."""
        if message_id is None:
            return None
        try:
            await self.calls.call(
                "editMessageText",
                lambda: bot.edit_message_text(
                    alert.text, chat_id=chat, message_id=message_id, reply_markup=markup
                ),
                chat=chat,
            )
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return "unchanged"
            if edit_only:
                raise  # only an update of an order's end: said in the log
            # Deleted in the chat, or too old to edit: the alert goes out as a new message.
            log.info("telegram.edit_failed", chat_id=chat, error=str(exc))
            return None
        return "edited"

    # -- updates -----------------------------------------------------------------------

    async def _updates(self, bot: Bot) -> None:
        offset = await asyncio.to_thread(self._offset)
        while True:
            try:
                offset = await self._update_pass(bot, offset)
            except asyncio.CancelledError:
                return
            except Exception:
                log.exception("telegram.updates_failed")  # e.g. the database: try again
                try:
                    await self.calls.pause(BACKOFF_MAX / 10)
                except asyncio.CancelledError:
                    return

    def _offset(self) -> int:
        with self.store.transaction() as session:
            return stored.state(session, at=self.clock()).update_offset

    async def _update_pass(self, bot: Bot, offset: int) -> int:
        """One long poll; each update handled, then the stored offset moved past it."""
        updates = await self.calls.call(
            "getUpdates",
            lambda: bot.get_updates(
                offset=offset or None,
                timeout=self.poll_timeout,
                allowed_updates=["message", "callback_query"],
            ),
        )
        for update in updates:
            try:
                await self._handle(bot, update)
            except (TelegramError, ValueError) as exc:
                log.error("telegram.update_failed", update_id=update.update_id, error=str(exc))
            offset = update.update_id + 1
            await asyncio.to_thread(
                self.calls.write, lambda s, at, o=offset: stored.advance_updates(s, o, at=at)
            )
        return offset

    async def _handle(self, bot: Bot, update: Update) -> None:
        query = update.callback_query
        if query is not None:
            chat_id = query.message.chat.id if query.message is not None else 0
            user = TelegramUser(query.from_user.id, query.from_user.username)
            answer = await asyncio.to_thread(self.handlers.tap, chat_id, user, query.data or "")
            await self.calls.call(
                "answerCallbackQuery",
                lambda: bot.answer_callback_query(query.id, text=answer.text[:MAX_ANSWER]),
            )
            if answer.message is not None and chat_id:
                text = answer.message
                await self.calls.call(
                    "sendMessage", lambda: bot.send_message(chat_id, text), chat=chat_id
                )
            return
        message = update.message
        if message is None or not message.text or message.from_user is None:
            return
        user = TelegramUser(message.from_user.id, message.from_user.username)
        reply = await asyncio.to_thread(self.handlers.command, message.chat.id, user, message.text)
        if reply is not None:
            chat = message.chat.id
            await self.calls.call("sendMessage", lambda: bot.send_message(chat, reply), chat=chat)
