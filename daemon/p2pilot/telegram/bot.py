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
import logging
import threading
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from p2pilot import metrics
from p2pilot.config import Config
from p2pilot.logging import get_logger
from p2pilot.store import telegram as stored
from p2pilot.store.engine import Store
from p2pilot.store.events import EventRecord
from p2pilot.telegram.handlers import Handlers, TelegramUser
from p2pilot.telegram.render import Alert, Button, render

log = get_logger(__name__)
T = TypeVar("T")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HEALTH_EVERY = timedelta(seconds=30)  # how often a healthy bot writes that it is
MAX_ANSWER = 200
# Events that edit an order's message in place even when not alerted: the order is
# over or held, so its buttons go (a chat message or a status step leaves them).
FOLLOWED = frozenset(
    {"order.completed", "order.cancelled", "order.release_held"}
)  # Telegram shows at most 200 characters of a tap's answer


def utc_now() -> datetime:
    return datetime.now(UTC)


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    """The inline keyboard of these button rows (None: no buttons)."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def _retry_after(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds (int or timedelta, by PTB's version)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # the int form: still fine
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


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
        self.failures = 0
        self._health_written: datetime | None = None
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

    # -- calls and their retries -------------------------------------------------------

    async def _call(self, method: str, make: Callable[[], Awaitable[T]]) -> T:
        """One Bot API call, retried on network errors, 5xx and 429 until it answers.

        A refusal (400, 403) is Telegram's final word and is raised.
        """
        delay = BACKOFF_FIRST
        while True:
            try:
                result = await make()
            except RetryAfter as exc:
                wait = _retry_after(exc)
                metrics.TELEGRAM_CALLS.labels(method, "retry_after").inc()
                await self._failed(method, f"429: retry after {wait:g}s")
            except (BadRequest, Forbidden) as exc:
                metrics.TELEGRAM_CALLS.labels(method, "refused").inc()
                raise exc
            except (NetworkError, TelegramError) as exc:
                wait, delay = delay, min(delay * 2, BACKOFF_MAX)
                metrics.TELEGRAM_CALLS.labels(method, "error").inc()
                await self._failed(method, self._scrub(f"{type(exc).__name__}: {exc}"))
            else:
                metrics.TELEGRAM_CALLS.labels(method, "ok").inc()
                await self._succeeded()
                return result
            await self._pause(wait)

    async def _pause(self, seconds: float) -> None:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise asyncio.CancelledError  # stopping: give up the call, it is retried next run

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***")

    async def _failed(self, method: str, error: str) -> None:
        self.failures += 1
        metrics.TELEGRAM_UP.set(0)
        log.warning("telegram.call_failed", method=method, error=error, failures=self.failures)
        await asyncio.to_thread(self._write, lambda s, at: stored.failed(s, error=error, at=at))

    async def _succeeded(self) -> None:
        now = self.clock()
        metrics.TELEGRAM_UP.set(1)
        recent = self._health_written is not None and now - self._health_written < HEALTH_EVERY
        if self.failures == 0 and recent:
            return
        if self.failures:
            log.info("telegram.recovered", after_failures=self.failures)
        self.failures = 0
        self._health_written = now
        await asyncio.to_thread(self._write, lambda s, at: stored.succeeded(s, at=at))

    def _write(self, change: Callable[..., object]) -> None:
        with self.store.transaction() as session:
            change(session, self.clock())

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
                    await self._pause(self.idle)
                except asyncio.CancelledError:
                    return

    def _next_events(self) -> list[EventRecord]:
        with self.store.transaction() as session:
            cursor = stored.state(session, at=self.clock()).event_id
            events = stored.events_after(session, cursor)
            metrics.TELEGRAM_BACKLOG.set(stored.backlog(session, cursor))
        return events

    async def _alert_pass(self, bot: Bot) -> bool:
        """Alert every event past the cursor, in order; True if there were any."""
        assert self._stopping is not None
        events = await asyncio.to_thread(self._next_events)
        for event in events:
            if self._stopping.is_set():
                break
            if event.type in self.alerts:
                await self._deliver(bot, event, render(event), edit_only=False)
            elif event.type in FOLLOWED and event.order_pk is not None:
                # Not alerted itself, but the order's message shows where it ended up.
                await self._deliver(bot, event, render(event), edit_only=True)
            await asyncio.to_thread(
                self._write, lambda s, at, e=event.id: stored.advance_events(s, e, at=at)
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
                how = await self._send_or_edit(bot, chat, message_id, alert, event.id)
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
        self, bot: Bot, chat: int, message_id: int | None, alert: Alert, event_id: int
    ) -> str:
        markup = keyboard(alert.buttons)
        if message_id is not None:
            try:
                await self._call(
                    "editMessageText",
                    lambda: bot.edit_message_text(
                        alert.text, chat_id=chat, message_id=message_id, reply_markup=markup
                    ),
                )
                how = "edited"
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    raise  # the message is gone: said in the log, not sent twice
                how = "unchanged"
        else:
            sent = await self._call(
                "sendMessage", lambda: bot.send_message(chat, alert.text, reply_markup=markup)
            )
            message_id = sent.message_id
            how = "sent"
        mid = message_id

        def remember(session: object, at: datetime) -> None:
            stored.remember_message(session, alert.subject, chat, mid, event_id=event_id, at=at)  # type: ignore[arg-type]

        await asyncio.to_thread(self._write, remember)
        return how

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
                    await self._pause(BACKOFF_MAX / 10)
                except asyncio.CancelledError:
                    return

    def _offset(self) -> int:
        with self.store.transaction() as session:
            return stored.state(session, at=self.clock()).update_offset

    async def _update_pass(self, bot: Bot, offset: int) -> int:
        """One long poll; each update handled, then the stored offset moved past it."""
        updates = await self._call(
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
                self._write, lambda s, at, o=offset: stored.advance_updates(s, o, at=at)
            )
        return offset

    async def _handle(self, bot: Bot, update: Update) -> None:
        query = update.callback_query
        if query is not None:
            chat_id = query.message.chat.id if query.message is not None else 0
            user = TelegramUser(query.from_user.id, query.from_user.username)
            answer = await asyncio.to_thread(self.handlers.tap, chat_id, user, query.data or "")
            await self._call(
                "answerCallbackQuery",
                lambda: bot.answer_callback_query(query.id, text=answer.text[:MAX_ANSWER]),
            )
            if answer.message is not None and chat_id:
                text = answer.message
                await self._call("sendMessage", lambda: bot.send_message(chat_id, text))
            return
        message = update.message
        if message is None or not message.text or message.from_user is None:
            return
        user = TelegramUser(message.from_user.id, message.from_user.username)
        reply = await asyncio.to_thread(self.handlers.command, message.chat.id, user, message.text)
        if reply is not None:
            await self._call("sendMessage", lambda: bot.send_message(message.chat.id, reply))
