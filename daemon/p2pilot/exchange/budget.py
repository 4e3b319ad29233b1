"""One request budget per Bybit account, shared by every job, and the pauses Bybit imposes.

- Reads and writes are paced below Bybit's per-UID limits (rolling windows; the
  defaults, 8 reads/s and 4 writes/s, leave headroom). A call waits for its
  token in the calling job's thread — at most a fraction of a second.
- Background reads (chats, ads, market prices, the account's own profile) may
  take at most a quarter of the reads: a backlog of them, after an outage or a
  restart, must not starve the orders poll and the release checks that buyers
  are waiting on.
- ``10006`` pauses every call of that account until the reset time Bybit gave.
- Bybit also limits a host: 600 requests in any 5 seconds from one IP, all
  accounts together. A :class:`HostBudget`, shared by every account of the
  process, keeps the calls under a configured share of that (``[host]
  requests_per_5s``). Background reads may use at most half of it, and the
  order-list polls at most four fifths: the calls a buyer waits on (an order's
  detail, a reply, a release) always find room, however many accounts poll.
  Within each share the window is first come, first served: every account's
  call gets its turn in order, and none starves.
- HTTP ``403`` (an IP ban) pauses every call from this host, all accounts, for
  ten minutes. The first call to meet a pause is marked ``first_hit`` so the
  job runner raises one alert, not one per job.

A paused call raises ``RateLimited`` without reaching the exchange: hammering a
limit only extends it.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from p2pilot.exchange import requests as paths
from p2pilot.exchange.errors import ExchangeError, RateLimited

Clock = Callable[[], float]
BACKGROUND_READS = frozenset(
    {
        paths.CHAT_MESSAGES,
        paths.CHAT_SESSIONS,
        paths.CHAT_SESSION_ID,
        paths.SESSION_MESSAGES,
        paths.MY_ADS,
        paths.AD_DETAIL,
        paths.ONLINE_ADS,
        paths.PAYMENT_METHODS,
        paths.ACCOUNT_INFO,
    }
)
WINDOW_S = 1.1  # Bybit's rolling second, plus room for jitter on the way
HOST_WINDOW_S = 5.25  # Bybit's per-IP five seconds, plus the same room
HOST_LIMIT = 600  # Bybit's requests per 5 s per IP; over it, 403 and a ten-minute ban
DEFAULT_HOST_REQUESTS = 500  # per 5 s: what a host budget allows unless configured
BACKGROUND_SHARE = 0.5  # of the host's window background reads may take
POLL_SHARE = 0.8  # of the host's window the order-list polls may take
POLLS = frozenset({paths.PENDING_ORDERS, paths.ORDERS})


class RollingWindow:
    """At most ``rate`` calls in any rolling ``span``; ``take`` returns how long to wait.

    A token bucket would allow a full burst on top of a full second's rate (twice
    the limit in some window); Bybit counts a rolling window, so this does too --
    a slightly longer one, so that network jitter cannot squeeze an extra call
    into the exchange's second.
    """

    def __init__(self, rate: int, clock: Clock = time.monotonic, span: float = WINDOW_S) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1")
        self.rate = rate
        self.clock = clock
        self.span = span
        self._slots: list[float] = []  # sorted
        self._lock = threading.Lock()

    def take(self) -> tuple[float, float]:
        """Reserve the next free slot: its time, and the seconds to wait before using it."""
        with self._lock:
            now = self.clock()
            stale = bisect.bisect_right(self._slots, now - self.span)
            del self._slots[:stale]
            start = now if len(self._slots) < self.rate else self._slots[-self.rate] + self.span
            bisect.insort(self._slots, start)
            return start, max(0.0, start - now)

    def leaving(self, slot: float) -> None:
        """The call of ``slot`` leaves now: count it from now if that is later.

        A thread that slept past its slot (a busy machine) would otherwise send
        later than counted, and the next call, counted from the slot, could reach
        the exchange within its second of this one.
        """
        with self._lock:
            now = self.clock()
            at = bisect.bisect_left(self._slots, slot)
            if now > slot and at < len(self._slots) and self._slots[at] == slot:
                del self._slots[at]
                bisect.insort(self._slots, now)


class HostPause:
    """The IP ban: shared by every account of this process."""

    def __init__(self) -> None:
        self._until: datetime | None = None
        self._lock = threading.Lock()

    def until(self, now: datetime) -> datetime | None:
        with self._lock:
            return self._until if self._until is not None and self._until > now else None

    def pause(self, until: datetime) -> bool:
        """Extend the ban; True when none was in force (the first hit)."""
        with self._lock:
            now = datetime.now(UTC)
            fresh = self._until is None or self._until <= now
            if self._until is None or until > self._until:
                self._until = until
            return fresh

    def clear(self) -> None:
        """Lift the ban (tests; an operator restarts the daemon instead)."""
        with self._lock:
            self._until = None


class HostBudget:
    """Bybit's per-IP limit, shared by every account of one process.

    ``requests_per_5s`` calls in any rolling five seconds (None: no window, the
    ban alone), of which background reads may take half and the order-list polls
    four fifths; and the IP ban after a 403, during which no call leaves.
    """

    def __init__(
        self, requests_per_5s: int | None = DEFAULT_HOST_REQUESTS, clock: Clock = time.monotonic
    ) -> None:
        self.requests_per_5s = requests_per_5s
        self.ban = HostPause()
        self._shares: dict[str, list[RollingWindow]] = {}
        if requests_per_5s is not None:
            window = RollingWindow(requests_per_5s, clock, HOST_WINDOW_S)

            def share(part: float) -> RollingWindow:
                return RollingWindow(max(1, int(requests_per_5s * part)), clock, HOST_WINDOW_S)

            self._shares = {
                "background": [share(BACKGROUND_SHARE), window],
                "poll": [share(POLL_SHARE), window],
                "other": [window],
            }

    def windows(self, endpoint: str) -> list[RollingWindow]:
        """The host windows a call queues in, in order: its share's, then the whole."""
        if not self._shares:
            return []
        if endpoint in BACKGROUND_READS:
            return self._shares["background"]
        return self._shares["poll" if endpoint in POLLS else "other"]


# What a client built without one shares: the ban, and Bybit's limit with headroom.
# The daemon builds its own from ``[host]`` and gives it to every account's client.
HOST = HostBudget()


class RequestBudget:
    """Pacing and pauses for one account's client."""

    def __init__(
        self,
        *,
        reads_per_second: int = 8,
        writes_per_second: int = 4,
        host: HostBudget = HOST,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Clock = time.monotonic,
    ) -> None:
        self.reads = RollingWindow(reads_per_second, clock)
        self.background = RollingWindow(max(1, reads_per_second // 4), clock)
        self.writes = RollingWindow(writes_per_second, clock)
        self.host = host
        self.sleep = sleep
        self.now = now
        self._paused_until: datetime | None = None
        self._lock = threading.Lock()

    def before(self, kind: str, endpoint: str) -> None:
        """Wait for this call's turn, or raise RateLimited while a pause is in force."""
        now = self.now()
        banned = self.host.ban.until(now)
        if banned is not None:
            raise RateLimited(
                "calls from this host are paused after an HTTP 403 (IP ban)",
                reset_at=banned,
                endpoint=endpoint,
                ip_ban=True,
            )
        with self._lock:
            paused = self._paused_until
        if paused is not None and paused > now:
            raise RateLimited(
                "calls of this account are paused until Bybit's rate-limit reset",
                reset_at=paused,
                endpoint=endpoint,
                code=10006,
            )
        background = kind == "read" and endpoint in BACKGROUND_READS
        # The account's windows first (a fraction of a second at most), then the
        # host's: a slot is reserved only once the call is ready to use it.
        # Background reads queue for a background slot before the main one.
        queue = [self.background] if background else []
        queue.append(self.writes if kind == "write" else self.reads)
        queue.extend(self.host.windows(endpoint))
        taken: list[tuple[RollingWindow, float]] = []
        for window in queue:
            slot, wait = window.take()
            taken.append((window, slot))
            if wait > 0:
                self.sleep(wait)
        for used, slot in taken:
            used.leaving(slot)

    def after(self, error: ExchangeError) -> None:
        """Learn from a failure: a rate limit pauses the account, an IP ban the host."""
        if not isinstance(error, RateLimited):
            return
        if error.ip_ban:
            error.first_hit = self.host.ban.pause(error.reset_at)
            return
        with self._lock:
            fresh = self._paused_until is None or self._paused_until <= self.now()
            if self._paused_until is None or error.reset_at > self._paused_until:
                self._paused_until = error.reset_at
        error.first_hit = fresh
