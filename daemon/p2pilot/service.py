"""The daemon process: its lifecycle, and nothing else.

``Daemon.start`` takes the lock, migrates (or checks) the schema and builds the
desk (``runtime/desk.py``: accounts, rules, jobs, leases). ``run_forever`` hands
the jobs to the scheduler until SIGTERM/SIGINT, reloading the config on SIGHUP
and telling systemd how it goes. ``run_once`` runs every job one tick and drains
the outbox, for cron-style use and end-to-end tests. ``close`` hands everything
back. What runs is built in ``runtime/``; this module only says when.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING

from p2pilot.clocks import utc_now
from p2pilot.config import Config, ConfigError, load_config
from p2pilot.exchange.budget import HostBudget
from p2pilot.jobs.sync import sync_orders
from p2pilot.logging import add_secrets, get_logger
from p2pilot.rules.dispatch import EventDispatcher
from p2pilot.runtime.accounts import Account, ClientFactory, make_client
from p2pilot.runtime.desk import Desk
from p2pilot.runtime.hostfit import host_fit
from p2pilot.runtime.schedule import Schedule, retime
from p2pilot.sdnotify import Heartbeat, Notifier, Watchdog, watchdog_interval
from p2pilot.store.engine import Store
from p2pilot.store.lock import DaemonLock
from p2pilot.store.migrate import ensure_schema

if TYPE_CHECKING:
    from p2pilot.telegram import TelegramBot

log = get_logger(__name__)

EVENTS_INTERVAL = timedelta(seconds=1)
HEARTBEAT_INTERVAL = timedelta(seconds=1)
# Config sections a reload cannot apply: they take effect at the next start.
FIXED_SECTIONS = ("database", "logging", "evidence", "chat", "rates", "host")


class Daemon:
    """One p2pilot process."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utc_now,
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        # One host budget for every account: Bybit limits the IP, not just each UID.
        host = HostBudget(config.host.requests_per_5s)
        self.client_factory = client_factory or functools.partial(make_client, host=host)
        self.store = Store(config.database.url)
        self.lock = DaemonLock(config.database.url)
        self.stopping = threading.Event()
        self.reload_requested = threading.Event()
        self.notifier = Notifier()
        self.heartbeat = Heartbeat()
        self._desk: Desk | None = None
        self._schedule: Schedule | None = None

    # -- what start() built ---------------------------------------------------------

    @property
    def desk(self) -> Desk:
        """The accounts, jobs, rules and leases; built by ``start``."""
        if self._desk is None:
            raise RuntimeError("the daemon is not started")
        return self._desk

    @property
    def accounts(self) -> list[Account]:
        """Every enabled account (none before ``start``)."""
        return self._desk.accounts if self._desk is not None else []

    @property
    def active_accounts(self) -> list[Account]:
        """The enabled accounts that passed the startup check."""
        return self._desk.active_accounts if self._desk is not None else []

    @property
    def dispatcher(self) -> EventDispatcher:
        return self.desk.dispatcher

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Migrate (or check) the schema, register accounts, check each account once."""
        self.lock.acquire()  # before anything is written: one daemon per SQLite file
        fit = host_fit(self.config)
        if not fit.fits:
            log.warning("host.budget_short", advice=fit.advice(), **fit.to_json())
        ensure_schema(self.store, auto_migrate=self.config.database.auto_migrate)
        self._desk = Desk.build(
            self.config,
            self.store,
            self.clock,
            client_factory=self.client_factory,
            stopping=self.stopping,
        )
        # Anything left half-done by a crash is settled before new work begins.
        self._desk.settle()

    def run_once(self) -> int:
        """Sync every account's orders, run every other job one tick, drain the outbox.

        0 if everything succeeded: every order the exchange reports is stored.
        """
        desk = self.desk
        ok = bool(desk.accounts) and all(a.disabled_reason is None for a in desk.accounts)
        desk.refresh_leases()
        for jobs in desk.active_jobs:
            for job, runner in jobs.runners.items():
                if job == "orders":
                    # In full: every order the exchange reports, the lease kept meanwhile.
                    synced = sync_orders(runner, jobs.orders, keep_lease=desk.refresh_leases)
                    ok = synced and ok
                else:
                    ok = runner() and ok
        # Renewed between slices: draining a busy desk's events outlasts a lease, as its
        # sync does, and an event of an account no longer held is left for its holder.
        renew = desk.leases.renew_every.total_seconds() if desk.leases is not None else None
        while True:
            desk.refresh_leases()
            if not desk.dispatcher.drain(for_seconds=renew) or renew is None:
                break
        return 0 if ok else 1

    def run_forever(self, stop: threading.Event) -> int:
        """Schedule every job and block until ``stop`` is set; returns the exit code."""
        from p2pilot.runtime.servers import Servers  # the mail and web stacks, for `run` only

        # The bot first: a bot's very first start puts its cursor at the newest
        # event, and the events the jobs write from then on must all alert.
        telegram = self._telegram()
        schedule = self._schedule = self._scheduled()
        schedule.start()
        servers = Servers(self.config, self.store, self.clock, on_evidence=self._drain)
        servers.start()
        desk = self.desk
        log.info(
            "daemon.started",
            accounts=[a.name for a in desk.active_accounts],
            disabled=[a.name for a in desk.accounts if a.disabled_reason],
            jobs=schedule.job_ids(),
        )
        self.notifier.ready(self.status_line())
        interval = watchdog_interval()
        watchdog = (
            Watchdog(self.notifier, interval, self.heartbeat.age, self.status_line)
            if interval and self.notifier.enabled
            else None
        )
        if watchdog is not None:
            watchdog.start()
        while not stop.wait(0.2):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
        self.notifier.stopping()
        if watchdog is not None:
            watchdog.stop()
        self.stopping.set()  # webhook backoffs and other waits end now
        if telegram is not None:
            telegram.stop()
        servers.stop()
        return self._shutdown(schedule)

    def _telegram(self) -> TelegramBot | None:
        """The Telegram bot, started in its own thread, when ``[telegram]`` has a token."""
        if not self.config.telegram.enabled:
            return None
        from p2pilot.telegram import build_bot  # the bot's stack, for `run` only

        bot = build_bot(self.config, self.store, self.clock, client_factory=self.client_factory)
        bot.start()
        return bot

    def _scheduled(self) -> Schedule:
        """Every active account's jobs, the events drain, lease renewal and the heartbeat."""
        desk = self.desk
        schedule = Schedule(self.config.polling, workers=max(4, 2 * len(desk.accounts) * 4))
        schedule.add_accounts(desk.active_jobs)
        schedule.every("events", EVENTS_INTERVAL, desk.dispatcher.drain, misfire_grace_time=5)
        if desk.leases is not None:
            schedule.every("leases", desk.leases.renew_every, desk.refresh_leases)
        # Runs on the same pool as the jobs: if ticks wedge every worker, it stops
        # beating and the systemd watchdog lets the service be restarted.
        schedule.every("heartbeat", HEARTBEAT_INTERVAL, self.heartbeat.touch)
        return schedule

    def reload(self) -> bool:
        """Re-read the config file (SIGHUP): accounts, rules, limits and polling intervals.

        A config that does not load is refused with a logged error and the running
        one stays. An added account starts; a removed one finishes its work first;
        a changed one (new key, new URL) does both. The database is fixed for the
        process's life.
        """
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            fresh = load_config(self.config.source)
        except ConfigError as err:
            log.error("config.reload_refused", error=str(err), keeping="the running config")
            self.notifier.send("READY=1", f"STATUS=reload refused: {err}")
            return False
        add_secrets(fresh.secret_values())  # a rotated webhook URL is redacted too
        self._apply_accounts(fresh)
        self.desk.replace_rules(fresh)
        changed = retime(self.desk.jobs, fresh, self._schedule)
        needs_restart = [
            name for name in FIXED_SECTIONS if getattr(fresh, name) != getattr(self.config, name)
        ]
        self.config = fresh
        log.info(
            "config.reloaded",
            rules=[r.name for r in fresh.rules],
            retimed=sorted(set(changed)),
            needs_restart=needs_restart,
        )
        self.notifier.send("READY=1", f"STATUS={self.status_line()}")
        return True

    def _apply_accounts(self, fresh: Config) -> None:
        """Start the accounts ``fresh`` adds, stop those it removes, restart those it changes."""
        old = {a.name: a for a in self.config.accounts if a.enabled}
        new = {a.name: a for a in fresh.accounts if a.enabled}
        schedule = self._schedule
        for jobs in list(self.desk.jobs):
            name = jobs.account.name
            if new.get(name) != old.get(name) or name not in new:
                if schedule is not None:
                    schedule.remove_account(jobs)
                self.desk.remove_account(jobs)
        running = {jobs.account.name for jobs in self.desk.jobs}
        for name, account in new.items():
            if name not in running:
                added = self.desk.add_account(account)
                if schedule is not None and added.account.disabled_reason is None:
                    schedule.add_accounts([added])

    def status_line(self) -> str:
        """One line for systemd's STATUS=: what runs and what is failing."""
        return self.desk.status_line()

    def _drain(self) -> None:
        # The bank hook waits for this answer: never behind another thread's drain
        # (that thread handles the new event too), never through the retries.
        self.desk.dispatcher.drain(wait=False, retries=False, for_seconds=1.0)

    def _shutdown(self, schedule: Schedule) -> int:
        deadline = self.config.polling.shutdown_timeout.total_seconds()
        log.info("daemon.stopping", deadline_seconds=deadline)
        if not schedule.stop(deadline):
            log.warning("daemon.stop_forced", reason="a tick did not finish before the deadline")
            self._flush()
            # Every write is one transaction, so leaving now loses nothing stored.
            os._exit(0)
        self.close()
        log.info("daemon.stopped")
        return 0

    def close(self) -> None:
        """Hand the leases back, close the database, release the lock."""
        if self._desk is not None:
            self._desk.give_up_leases()
        self.store.dispose()
        self.lock.release()

    @staticmethod
    def _flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()


def install_stop_handlers(stop: threading.Event, reload: threading.Event | None = None) -> None:
    """SIGTERM and SIGINT ask the daemon to stop cleanly; SIGHUP to reload its config."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("daemon.signal", signal=signal.Signals(signum).name)
        stop.set()

    def hangup(_signum: int, _frame: FrameType | None) -> None:
        # Only a flag here: the main loop reloads, outside the signal handler.
        if reload is not None:
            reload.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    if reload is not None:
        signal.signal(signal.SIGHUP, hangup)
