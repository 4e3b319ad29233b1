"""Run one poll job's tick safely: never raise into the scheduler, back off on failure.

APScheduler calls :meth:`JobRunner.__call__` every interval. A tick that fails is
counted in ``poll_state`` and retried on the next tick, then on every second tick
while it keeps failing (or, for a rate limit, at the exchange's reset time). A
longer pause would save nothing worth having: one read every two ticks is far
inside Bybit's limits, while a desk blind for minutes after an outage loses orders
to their payment timers. What grows instead is the gap between log lines: failures
1, 2, 4, 8, ... are warnings, the rest debug, and the recovery is logged once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from structlog.stdlib import BoundLogger

from p2pilot.clocks import utc_now
from p2pilot.exchange.errors import (
    AuthError,
    ExchangeError,
    MalformedResponse,
    RateLimited,
    TransientError,
)
from p2pilot.logging import get_logger
from p2pilot.store import poll_state
from p2pilot.store.alerts import raise_alert
from p2pilot.store.engine import Store

log = get_logger(__name__)

MAX_BACKOFF_TICKS = 2  # a failing job runs again within two ticks of the fault's end
SUCCESS_STAMP_EVERY = timedelta(seconds=5)  # how often a run of successes is stored


class Tick(Protocol):
    """One unit of polling work; raises on failure."""

    def __call__(self) -> None: ...


@dataclass
class JobRunner:
    """Wraps a tick with failure accounting and backoff for one (account, job)."""

    account: str
    account_id: int
    job: str
    interval: timedelta
    tick: Tick
    store: Store
    clock: Callable[[], datetime] = utc_now
    consecutive_failures: int = 0
    paused_until: datetime | None = None
    disabled_reason: str | None = None
    ticks: int = 0
    # Adaptive pace: while ``is_idle()`` says nothing is in flight, run at most
    # every ``idle_interval`` although the scheduler fires every ``interval``.
    idle_interval: timedelta | None = None
    is_idle: Callable[[], bool] = lambda: False
    last_run_at: datetime | None = None
    # False while this daemon does not hold the account (another one's lease): skipped.
    holds: Callable[[], bool] = lambda: True
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stamped_at: datetime | None = field(default=None, repr=False)  # last success stored

    def __call__(self) -> bool:
        """Run one tick unless paused; returns True when the tick succeeded."""
        if not self._lock.acquire(blocking=False):
            # APScheduler's max_instances=1 already prevents this; `run --once` and
            # the scheduler could still meet in tests, so stay safe.
            return False
        try:
            return self._run()
        finally:
            self._lock.release()

    def finish(self) -> None:
        """Wait until a running tick has ended (its account is being removed)."""
        with self._lock:
            pass

    def retime(self, interval: timedelta, idle_interval: timedelta | None = None) -> bool:
        """Take a reloaded config's pace; True when ``interval`` changed.

        The scheduler's trigger must follow a changed interval. An adaptive runner
        (one with an idle interval) takes the new idle interval, None included.
        """
        if self.idle_interval is not None:
            self.idle_interval = idle_interval
        if interval == self.interval:
            return False
        self.interval = interval
        return True

    def _run(self) -> bool:
        now = self.clock()
        skipped = self._skipped(now)
        if skipped is not None:
            return skipped
        self.last_run_at = now
        bound = log.bind(account=self.account, job=self.job)
        try:
            self.tick()
        except AuthError as exc:
            return self._disabled(bound, now, exc)
        except RateLimited as exc:
            return self._rate_limited(bound, now, exc)
        except (TransientError, MalformedResponse, ExchangeError) as exc:
            return self._failed(bound, now, exc)
        except Exception as exc:
            return self._crashed(bound, now, exc)
        self._succeeded(bound)
        return True

    def _skipped(self, now: datetime) -> bool | None:
        """This run's result if it is skipped (disabled, paused, not held, idle); None: run."""
        if self.disabled_reason is not None:
            return False
        if self.paused_until is not None and now < self.paused_until:
            return False
        if not self.holds():
            return True  # another daemon polls this account: nothing wrong here
        if (
            self.idle_interval is not None
            and self.last_run_at is not None
            and now - self.last_run_at < self.idle_interval
            and self.is_idle()
        ):
            return True  # a quiet desk: this run is skipped, not failed
        return None

    def _disabled(self, bound: BoundLogger, now: datetime, exc: AuthError) -> bool:
        self.disabled_reason = str(exc)
        bound.error("job.disabled", error=str(exc), error_type=type(exc).__name__)
        self._record_failure(now, exc)
        self._alert("job_disabled", str(exc), now)
        return False

    def _rate_limited(self, bound: BoundLogger, now: datetime, exc: RateLimited) -> bool:
        self.paused_until = max(exc.reset_at, now + timedelta(milliseconds=100))
        bound.warning(
            "job.rate_limited",
            error=str(exc),
            resume_at=self.paused_until.isoformat(),
            ip_ban=exc.ip_ban,
        )
        self._record_failure(now, exc)
        if exc.ip_ban and exc.first_hit:
            # One alert per ban, from the job that met it first.
            self._alert("ip_ban", str(exc), now, resume_at=exc.reset_at.isoformat())
        return False

    def _failed(self, bound: BoundLogger, now: datetime, exc: ExchangeError) -> bool:
        self._back_off(now)
        (bound.warning if self._loud else bound.debug)(
            "job.failed",
            error=str(exc),
            error_type=type(exc).__name__,
            consecutive_failures=self.consecutive_failures,
            resume_at=self.paused_until.isoformat() if self.paused_until else None,
        )
        self._record_failure(now, exc)
        return False

    def _crashed(self, bound: BoundLogger, now: datetime, exc: Exception) -> bool:
        # A bug or a database outage: log with traceback, keep the daemon alive.
        # Called inside the except block: exception() finds the traceback there.
        self._back_off(now)
        if self._loud:
            bound.exception(
                "job.crashed",
                error_type=type(exc).__name__,
                consecutive_failures=self.consecutive_failures,
            )
        else:
            bound.debug(
                "job.crashed",
                error=str(exc),
                error_type=type(exc).__name__,
                consecutive_failures=self.consecutive_failures,
            )
        self._record_failure(now, exc)
        return False

    def _succeeded(self, bound: BoundLogger) -> None:
        self.ticks += 1
        recovered = self.consecutive_failures > 0
        if recovered:
            bound.info("job.recovered", after_failures=self.consecutive_failures)
        self.consecutive_failures = 0
        self.paused_until = None
        now = self.clock()
        # A write transaction per tick per account is most of an idle desk's cost
        # (100 accounts polled every second: 100 a second, one at a time on
        # SQLite). ``status`` calls a job stale after a minute: a stamp every few
        # seconds tells it as much. A recovery is recorded at once.
        stamped = self._stamped_at
        if not recovered and stamped is not None and now - stamped < SUCCESS_STAMP_EVERY:
            return
        try:
            with self.store.transaction() as session:
                poll_state.record_success(session, self.account_id, self.job, at=now)
            self._stamped_at = now
        except Exception:
            bound.exception("job.state_not_recorded")

    def _alert(self, reason: str, message: str, now: datetime, **detail: object) -> None:
        try:
            raise_alert(
                self.store,
                account_id=self.account_id,
                account=self.account,
                reason=reason,
                message=message,
                at=now,
                job=self.job,
                **detail,
            )
        except Exception:
            log.exception("alert.not_stored", account=self.account, reason=reason)

    def _back_off(self, now: datetime) -> None:
        self.consecutive_failures += 1
        # The first failure retries on the next tick; later ones skip a tick.
        skipped = min(self.consecutive_failures, MAX_BACKOFF_TICKS) - 1
        # Half a tick past the skipped run: scheduler jitter cannot let it through.
        self.paused_until = now + self.interval * skipped + self.interval / 2 if skipped else None

    @property
    def _loud(self) -> bool:
        """Whether this failure is worth a warning: the 1st, 2nd, 4th, 8th, ..."""
        n = self.consecutive_failures
        return n & (n - 1) == 0

    def _record_failure(self, now: datetime, exc: BaseException) -> None:
        try:
            with self.store.transaction() as session:
                poll_state.record_failure(
                    session,
                    self.account_id,
                    self.job,
                    at=now,
                    error=f"{type(exc).__name__}: {exc}",
                )
        except Exception:
            if self._loud:  # the database is down: the tick's own log line said so already
                log.exception("job.state_not_recorded", account=self.account, job=self.job)
