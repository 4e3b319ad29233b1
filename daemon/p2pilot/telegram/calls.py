"""The bot's Bot API calls: paced, retried through network errors, 5xx and 429s, with its health.

Messages are paced ahead of Telegram's limits rather than only after a 429: at
most one a second into one chat, and thirty a second in all (the Bot API FAQ).
A call that fails for the network, a server error or a 429 is tried again
after a backoff (a 429 after its ``retry_after``) until it answers or the bot
stops; Telegram's refusals (400, 403) are final and raised. Each failure and
the recovery are written to the database (``status``) and the metrics.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from p2pilot import metrics
from p2pilot.exchange.budget import RollingWindow
from p2pilot.logging import get_logger
from p2pilot.store import telegram as stored
from p2pilot.store.engine import Store

log = get_logger(__name__)
T = TypeVar("T")

BACKOFF_FIRST = 0.5
BACKOFF_MAX = 30.0
HEALTH_EVERY = timedelta(seconds=30)  # how often a healthy bot writes that it is
PER_CHAT_S = 1.0  # Telegram: about one message a second into one chat
PER_SECOND = 30  # Telegram: about thirty messages a second in all


class Pacer:
    """When the next message may go: a second apart per chat, thirty a second in all."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._overall = RollingWindow(PER_SECOND, clock)
        self._next: dict[int, float] = {}

    def delay(self, chat: int) -> float:
        """Reserve the next message into ``chat``: the seconds to wait before sending it."""
        now = self.clock()
        at = max(now, self._next.get(chat, now))
        slot, _wait = self._overall.take()
        at = max(at, slot)
        self._next[chat] = at + PER_CHAT_S
        return at - now


def retry_after(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds (int or timedelta, by PTB's version)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # the int form: still fine
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Calls:
    """Bot API calls of one bot run, until ``stopping`` is set."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        token: str,
        stopping: asyncio.Event,
    ) -> None:
        self.store = store
        self.clock = clock
        self.token = token
        self.stopping = stopping
        self.failures = 0
        self.pacer = Pacer()
        self._health_written: datetime | None = None

    async def call(
        self, method: str, make: Callable[[], Awaitable[T]], *, chat: int | None = None
    ) -> T:
        """One Bot API call, retried on network errors, 5xx and 429 until it answers.

        A message (``chat`` given) waits its turn first (see :class:`Pacer`). A
        refusal (400, 403) is Telegram's final word and is raised; stopping the
        bot raises ``CancelledError``.
        """
        delay = BACKOFF_FIRST
        while True:
            if chat is not None:
                wait = self.pacer.delay(chat)
                if wait > 0:
                    await self.pause(wait)
            try:
                result = await make()
            except RetryAfter as exc:
                wait = retry_after(exc)
                metrics.TELEGRAM_CALLS.labels(method, "retry_after").inc()
                await self._failed(method, f"429: retry after {wait:g}s")
            except (BadRequest, Forbidden):
                metrics.TELEGRAM_CALLS.labels(method, "refused").inc()
                raise
            except (NetworkError, TelegramError) as exc:
                wait, delay = delay, min(delay * 2, BACKOFF_MAX)
                metrics.TELEGRAM_CALLS.labels(method, "error").inc()
                await self._failed(method, self._scrub(f"{type(exc).__name__}: {exc}"))
            else:
                metrics.TELEGRAM_CALLS.labels(method, "ok").inc()
                await self._succeeded()
                return result
            await self.pause(wait)

    async def pause(self, seconds: float) -> None:
        """Wait ``seconds``; raises ``CancelledError`` at once when the bot stops."""
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise asyncio.CancelledError  # stopping: give up the call, it is retried next run

    def write(self, change: Callable[..., object]) -> None:
        """Run ``change(session, now)`` in a transaction (from a worker thread)."""
        with self.store.transaction() as session:
            change(session, self.clock())

    def _scrub(self, text: str) -> str:
        return text.replace(self.token, "***")

    async def _failed(self, method: str, error: str) -> None:
        self.failures += 1
        metrics.TELEGRAM_UP.set(0)
        log.warning("telegram.call_failed", method=method, error=error, failures=self.failures)
        await asyncio.to_thread(self.write, lambda s, at: stored.failed(s, error=error, at=at))

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
        await asyncio.to_thread(self.write, lambda s, at: stored.succeeded(s, at=at))
