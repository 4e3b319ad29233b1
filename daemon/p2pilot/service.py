"""The daemon: wire config, store, exchange clients and poll jobs together and run them.

``Daemon.start`` prepares everything (schema, accounts, one exchange client per
account, the startup account check) and ``run_forever`` hands the jobs to
APScheduler until SIGTERM/SIGINT. ``run_once`` runs every job one tick and
drains the outbox, for cron-style use and end-to-end tests.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from p2pilot import metrics
from p2pilot.chat.channel import ChatChannel
from p2pilot.config import AccountConfig, Config, ConfigError, load_config
from p2pilot.exchange.budget import RequestBudget
from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import AdvertiserRequired, AuthError, ExchangeError
from p2pilot.jobs.ads import AdsJob
from p2pilot.jobs.chat import ChatJob
from p2pilot.jobs.orders import OrdersJob
from p2pilot.jobs.rates import RatesJob
from p2pilot.jobs.runner import JobRunner, utc_now
from p2pilot.jobs.sync import sync_orders
from p2pilot.logging import add_secrets, get_logger
from p2pilot.rules.compile import compile_rules, release_limits
from p2pilot.rules.dispatch import EventDispatcher
from p2pilot.rules.engine import AccountBinding, RuleEngine
from p2pilot.sdnotify import Heartbeat, Notifier, Watchdog, watchdog_interval
from p2pilot.store import accounts as stored_accounts
from p2pilot.store import leases as stored_leases
from p2pilot.store import orders as stored_orders
from p2pilot.store.alerts import raise_alert
from p2pilot.store.engine import Store
from p2pilot.store.lock import DaemonLock
from p2pilot.store.migrate import ensure_schema

if TYPE_CHECKING:
    from p2pilot.evidence.server import EvidenceServer
    from p2pilot.evidence.sources import TextSources

log = get_logger(__name__)

# A renewed lease is trusted for this share of its length (clock rates and the
# renewal's own duration differ between machines).
LEASE_TRUST = 0.8

ClientFactory = Callable[[AccountConfig], ExchangeClient]
EVENTS_INTERVAL = timedelta(seconds=1)
HEARTBEAT_INTERVAL = timedelta(seconds=1)


def make_client(account: AccountConfig) -> ExchangeClient:
    """Build the one exchange client (one pybit session) for an account."""
    return ExchangeClient(
        account=account.name,
        api_key=account.api_key.get_secret_value(),
        api_secret=account.api_secret.get_secret_value(),
        base_url=str(account.base_url).rstrip("/") if account.base_url else None,
        testnet=account.testnet,
        timeout=account.timeout.total_seconds(),
        recv_window=account.recv_window_ms,
        budget=RequestBudget(
            reads_per_second=account.reads_per_second,
            writes_per_second=account.writes_per_second,
        ),
        on_call=metrics.record_call,
    )


@dataclass
class AccountRuntime:
    """Everything the daemon holds for one configured account."""

    config: AccountConfig
    id: int
    client: ExchangeClient
    chat: ChatChannel
    runners: dict[str, JobRunner] = field(default_factory=dict)
    orders: OrdersJob | None = None  # for ``run --once``'s full sync
    disabled_reason: str | None = None

    @property
    def name(self) -> str:
        return self.config.name


class Daemon:
    """One p2pilot process."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Callable[[], datetime] = utc_now,
        client_factory: ClientFactory = make_client,
    ) -> None:
        self.config = config
        self.clock = clock
        self.client_factory = client_factory
        self.store = Store(config.database.url)
        self.accounts: list[AccountRuntime] = []
        self.stopping = threading.Event()
        # PostgreSQL: accounts are shared between daemons through leases.
        self.leased = self.store.dialect == "postgresql"
        self.holder = f"{this_machine()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.engine = RuleEngine(
            self.store,
            compile_rules(config),
            {},
            release_limits(config),
            clock,
            stopping=self.stopping.wait,
            policy=config.evidence.match_policy,
            lease_holder=self.holder if self.leased else None,
        )
        self.dispatcher = EventDispatcher(
            self.store, clock, handlers=[self.engine], accounts=self._owned_accounts
        )
        # Account id -> monotonic time the lease surely lasts until (renewed minus a margin).
        self.held: dict[int, float] = {}
        self.engine.owns = self.holds
        self.lock = DaemonLock(config.database.url)
        self.notifier = Notifier()
        self.reload_requested = threading.Event()
        self.heartbeat = Heartbeat()
        self._scheduler: BackgroundScheduler | None = None

    # -- setup -------------------------------------------------------------------

    def start(self) -> None:
        """Migrate (or check) the schema, register accounts, check each account once."""
        self.lock.acquire()  # before anything is written: one daemon per SQLite file
        ensure_schema(self.store, auto_migrate=self.config.database.auto_migrate)
        for account in self.config.accounts:
            if not account.enabled:
                log.info("account.skipped", account=account.name, reason="enabled = false")
                continue
            with self.store.transaction() as session:
                account_id = stored_accounts.ensure_account(session, account.name)
            client = self.client_factory(account)
            runtime = AccountRuntime(
                account, account_id, client, self._chat_channel(account_id, account, client)
            )
            nickname = self._check_account(runtime)
            self._build_jobs(runtime)
            self.accounts.append(runtime)
            if runtime.disabled_reason is None:
                self.engine.accounts[runtime.id] = AccountBinding(
                    id=runtime.id,
                    name=runtime.name,
                    client=runtime.client,
                    chat=runtime.chat,
                    dry_run=account.dry_run,
                    nickname=nickname or "",
                )
        # Anything left half-done by a crash is settled before new work begins
        # (for a leased account: when this daemon takes it, in refresh_leases).
        if self.leased:
            self.refresh_leases()
        else:
            settled = self.engine.reconcile_open()
            if settled:
                log.info("ledger.reconciled", actions=settled)

    # -- leases (PostgreSQL) -----------------------------------------------------------

    def holds(self, account_id: int) -> bool:
        """Whether this daemon polls and acts for the account now.

        Asked before every event: a lease renewed too long ago (a stalled renewal, a
        long batch) counts as lost before the database would let another daemon in.
        """
        if not self.leased:
            return True
        until = self.held.get(account_id)
        return until is not None and time.monotonic() < until

    def _owned_accounts(self) -> set[int] | None:
        if not self.leased:
            return None
        now = time.monotonic()
        return {account_id for account_id, until in self.held.items() if now < until}

    def refresh_leases(self) -> None:
        """Take or renew each account's lease; settle the ledger of an account just taken."""
        if not self.leased:
            return
        ttl = self.config.database.lease
        for runtime in self.active_accounts:
            # Counted from before the renewal, with a margin: never believed past expiry.
            until = time.monotonic() + ttl.total_seconds() * LEASE_TRUST
            try:
                with self.store.transaction() as session:
                    mine = stored_leases.take_or_renew(session, runtime.id, self.holder, ttl)
                    if not mine:
                        # A crashed predecessor on this machine (systemd restarting us)
                        # need not be waited out: its process is gone.
                        dead = stored_leases.holder_of(session, runtime.id)
                        if dead is not None and exited_here(dead):
                            mine = stored_leases.take_from(
                                session, runtime.id, dead, self.holder, ttl
                            )
            except Exception:
                # The database is unreachable: keep nothing we cannot prove we hold.
                log.exception("lease.refresh_failed", account=runtime.name)
                mine = False
            if mine and runtime.id not in self.held:
                log.info("lease.acquired", account=runtime.name, holder=self.holder)
                with self.dispatcher.exclusive():
                    self.held[runtime.id] = until
                    settled = self.engine.reconcile_open(runtime.id)
                if settled:
                    log.info("ledger.reconciled", account=runtime.name, actions=settled)
            elif mine:
                self.held[runtime.id] = until
            elif runtime.id in self.held:
                log.warning("lease.lost", account=runtime.name, holder=self.holder)
                self.held.pop(runtime.id, None)

    def _give_up_leases(self) -> None:
        for account_id in list(self.held):
            try:
                with self.store.transaction() as session:
                    stored_leases.give_up(session, account_id, self.holder)
            except Exception:
                log.warning("lease.release_failed", account_id=account_id, exc_info=True)
        self.held.clear()

    def _chat_channel(
        self, account_id: int, account: AccountConfig, client: ExchangeClient
    ) -> ChatChannel:
        with self.store.transaction(read_only=True) as session:
            switched = stored_accounts.chat_api(session, account_id) == "session"

        def remember_switch() -> None:
            with self.store.transaction() as session:
                stored_accounts.set_chat_api(session, account_id, "session")

        return ChatChannel(
            client,
            account=account.name,
            mode=self.config.chat.api,
            switched=switched,
            on_switch=remember_switch,
        )

    def _check_account(self, runtime: AccountRuntime) -> str | None:
        """Read the account once; returns its nickname, disables it on auth failures."""
        bound = log.bind(account=runtime.name)
        try:
            info = runtime.client.account_info()
        except AuthError as exc:
            runtime.disabled_reason = str(exc)
            hint = (
                "this Bybit account needs P2P advertiser status "
                "(General Advertiser or above) to use the P2P API"
                if isinstance(exc, AdvertiserRequired)
                else "check the API key and secret"
            )
            bound.error("account.disabled", error=str(exc), hint=hint)
            raise_alert(
                self.store,
                account_id=runtime.id,
                account=runtime.name,
                reason="account_disabled",
                message=f"{exc} - {hint}",
                at=self.clock(),
            )
            return None
        except ExchangeError as exc:
            # The exchange is unreachable right now; the jobs retry with backoff.
            bound.warning("account.check_failed", error=str(exc))
            return None
        with self.store.transaction() as session:
            stored_accounts.set_identity(
                session, runtime.id, user_id=info.user_id, nickname=info.nickname
            )
        bound.info("account.ready", user_id=info.user_id, nickname=info.nickname)
        return info.nickname

    def _build_jobs(self, runtime: AccountRuntime) -> None:
        polling = self.config.polling
        orders = OrdersJob(
            account=runtime.name,
            account_id=runtime.id,
            client=runtime.client,
            store=self.store,
            sweep_every=polling.sweep,
            clock=self.clock,
            # Detail reads stop here: the next tick must not be skipped for this one.
            time_box=polling.orders * 0.7,
            # A tick's share of the read budget: what the exchange allows per interval.
            max_details=max(
                1, int(runtime.config.reads_per_second * polling.orders.total_seconds())
            ),
            remind_after=self.config.evidence.remind_after,
        )

        chat = ChatJob(
            account=runtime.name,
            account_id=runtime.id,
            channel=runtime.chat,
            store=self.store,
            clock=self.clock,
            unread=lambda: orders.unread,
            linger=self.config.chat.linger,
        )
        ads = AdsJob(
            account=runtime.name,
            account_id=runtime.id,
            client=runtime.client,
            store=self.store,
            clock=self.clock,
        )
        jobs: list[tuple[str, timedelta, Callable[[], object]]] = [
            ("orders", polling.orders, orders.tick),
            ("chat", polling.chat, chat.tick),
            ("ads", polling.ads, ads.tick),
        ]
        rates_taken = any("rates" in a.runners for a in self.accounts)
        if self.config.rates and runtime.disabled_reason is None and not rates_taken:
            # Market data is the same for every account: the first usable one reads it.
            rates = RatesJob(
                account=runtime.name,
                account_id=runtime.id,
                client=runtime.client,
                store=self.store,
                entries=list(self.config.rates),
                clock=self.clock,
            )
            jobs.append(("rates", polling.rates, rates.tick))
        for job, interval, tick in jobs:
            runtime.runners[job] = JobRunner(
                account=runtime.name,
                account_id=runtime.id,
                job=job,
                interval=interval,
                tick=self._then_events(runtime.name, job, tick, interval),
                store=self.store,
                clock=self.clock,
                may_run=functools.partial(self.holds, runtime.id),
            )
        if polling.orders_idle is not None and polling.orders_idle > polling.orders:
            runner = runtime.runners["orders"]
            runner.idle_interval = polling.orders_idle
            # Idle: the last pending list was empty. Unknown (no tick yet) is not idle.
            runner.is_idle = lambda: orders.unread == {} and orders.backlog == 0
        runtime.orders = orders

    def _then_events(
        self, account: str, job: str, tick: Callable[[], object], interval: timedelta
    ) -> Callable[[], None]:
        """A job tick followed by the events it wrote.

        Handled at once, not at the next events-job run: a new order is acted on
        within the tick that saw it. Retries are the events job's, and so is a
        backlog: past a quarter of the interval the poll job leaves the rest to it.
        """
        share = interval.total_seconds() / 4
        duration = metrics.POLL_DURATION.labels(account, job)

        def run() -> None:
            with duration.time():
                tick()
            # Not the retries, and not behind another drain: polling must go on.
            self.dispatcher.drain(wait=False, retries=False, for_seconds=share)

        return run

    # -- running -----------------------------------------------------------------

    @property
    def active_accounts(self) -> list[AccountRuntime]:
        return [a for a in self.accounts if a.disabled_reason is None]

    def run_once(self) -> int:
        """Sync every account's orders, run every other job one tick, drain the outbox.

        0 if everything succeeded: every order the exchange reports is stored.
        """
        ok = bool(self.accounts) and all(a.disabled_reason is None for a in self.accounts)
        self.refresh_leases()
        for runtime in self.active_accounts:
            for job, runner in runtime.runners.items():
                if job == "orders" and runtime.orders is not None:
                    synced = sync_orders(runner, runtime.orders, keep_lease=self.refresh_leases)
                    ok = synced and ok
                else:
                    ok = runner() and ok
        self.dispatcher.drain()
        return 0 if ok else 1

    def run_forever(self, stop: threading.Event) -> int:
        """Schedule every job and block until ``stop`` is set; returns the exit code."""
        polling = self.config.polling
        workers = max(4, 2 * len(self.accounts) * 4)
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            timezone=UTC,
        )
        self._scheduler = scheduler
        now = datetime.now(UTC)
        for runtime in self.active_accounts:
            for name, runner in runtime.runners.items():
                scheduler.add_job(
                    runner,
                    IntervalTrigger(
                        seconds=runner.interval.total_seconds(),
                        jitter=polling.jitter.total_seconds() or None,
                        timezone=UTC,
                    ),
                    id=f"{runtime.name}:{name}",
                    name=f"{runtime.name}:{name}",
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(polling.misfire_grace.total_seconds())),
                    next_run_time=now,
                )
        every(scheduler, "events", EVENTS_INTERVAL, self.dispatcher.drain, misfire_grace_time=5)
        if self.leased:
            every(scheduler, "leases", self.config.database.lease / 3, self.refresh_leases)
        # Runs on the same pool as the jobs: if ticks wedge every worker, it stops
        # beating and the systemd watchdog lets the service be restarted.
        every(scheduler, "heartbeat", HEARTBEAT_INTERVAL, self.heartbeat.touch)
        scheduler.start()
        from p2pilot.evidence.sources import TextSources  # the mail stack, for `run` only

        texts = TextSources(
            self.config, store=self.store, clock=self.clock, on_recorded=lambda _r: self._drain()
        )
        texts.start()
        evidence = self._start_evidence_server(texts)
        stop_metrics = (
            metrics.serve(self.config.metrics.listen, self._oldest_paid)
            if self.config.metrics.enabled
            else None
        )
        log.info(
            "daemon.started",
            accounts=[a.name for a in self.active_accounts],
            disabled=[a.name for a in self.accounts if a.disabled_reason],
            jobs=[job.id for job in scheduler.get_jobs()],
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
                self.reload(scheduler)
        self.notifier.stopping()
        if watchdog is not None:
            watchdog.stop()
        self.stopping.set()  # webhook backoffs and other waits end now
        if evidence is not None:
            evidence.stop()
        texts.stop()
        if stop_metrics is not None:
            stop_metrics()
        return self._shutdown(scheduler)

    def reload(self, scheduler: BackgroundScheduler | None = None) -> bool:
        """Re-read the config file (SIGHUP): new rules, limits and polling intervals.

        A config that does not load is refused with a logged error and the running
        one stays. Accounts and the database are fixed for the process's life.
        """
        self.notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            fresh = load_config(self.config.source)
        except ConfigError as err:
            log.error("config.reload_refused", error=str(err), keeping="the running config")
            self.notifier.send("READY=1", f"STATUS=reload refused: {err}")
            return False
        add_secrets(fresh.secret_values())  # a rotated webhook URL is redacted too
        with self.dispatcher.exclusive():
            self.engine.replace_rules(
                compile_rules(fresh), release_limits(fresh), fresh.evidence.match_policy
            )
        changed = [
            job
            for runtime in self.accounts
            for job, runner in runtime.runners.items()
            if self._retime(runtime, job, runner, fresh, scheduler)
        ]
        needs_restart = [
            name
            for name in ("database", "logging", "accounts", "evidence", "chat", "rates")
            if getattr(fresh, name) != getattr(self.config, name)
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

    @staticmethod
    def _retime(
        runtime: AccountRuntime,
        job: str,
        runner: JobRunner,
        fresh: Config,
        scheduler: BackgroundScheduler | None,
    ) -> bool:
        if job == "orders" and runner.idle_interval is not None:
            runner.idle_interval = fresh.polling.orders_idle
        interval = getattr(fresh.polling, job, None)
        if not isinstance(interval, timedelta) or interval == runner.interval:
            return False
        runner.interval = interval
        if scheduler is not None:
            scheduler.reschedule_job(
                f"{runtime.name}:{job}",
                trigger=IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
            )
        return True

    def _oldest_paid(self) -> datetime | None:
        """When the oldest paid sell order still waiting for release was paid, if any."""
        with self.store.transaction(read_only=True) as session:
            oldest = stored_orders.oldest_awaiting_release(session)
        return oldest.since if oldest is not None else None

    def status_line(self) -> str:
        """One line for systemd's STATUS=: what runs and what is failing."""
        failing = sorted(
            f"{a.name}:{job}"
            for a in self.active_accounts
            for job, runner in a.runners.items()
            if runner.consecutive_failures
        )
        disabled = [a.name for a in self.accounts if a.disabled_reason]
        parts = [f"{len(self.active_accounts)} account(s) polling"]
        if failing:
            parts.append("failing: " + ", ".join(failing))
        if disabled:
            parts.append("disabled: " + ", ".join(disabled))
        return "; ".join(parts)

    def _drain(self) -> None:
        # The bank hook waits for this answer: never behind another thread's drain
        # (that thread handles the new event too), never through the retries.
        self.dispatcher.drain(wait=False, retries=False, for_seconds=1.0)

    def _start_evidence_server(self, texts: TextSources) -> EvidenceServer | None:
        # Imported here: the CLI commands that only need make_client skip the web stack.
        from p2pilot.evidence.notification_hook import NotificationHook
        from p2pilot.evidence.payment_hook import PaymentHook
        from p2pilot.evidence.routes import evidence_routes
        from p2pilot.evidence.server import EvidenceServer

        settings = self.config.evidence
        if settings.listen is None or (settings.secret is None and not settings.sources):
            return None
        payments = (
            PaymentHook(
                secret=settings.secret.get_secret_value(),
                store=self.store,
                clock=self.clock,
                # New evidence is acted on at once, not at the next events run.
                on_recorded=lambda _result: self._drain(),
                policy=settings.match_policy,
            )
            if settings.secret is not None
            else None
        )
        notices = (
            NotificationHook(sources=settings.sources, intake=texts.intake, clock=self.clock)
            if settings.sources
            else None
        )
        routes = evidence_routes(payments=payments, notices=notices)
        server = EvidenceServer(settings.listen, routes)
        server.start()
        return server

    def _shutdown(self, scheduler: BackgroundScheduler) -> int:
        deadline = self.config.polling.shutdown_timeout.total_seconds()
        log.info("daemon.stopping", deadline_seconds=deadline)
        # shutdown(wait=True) stops new runs at once and waits for running ticks;
        # do it in a helper thread so a wedged tick cannot hold the process forever.
        waiter = threading.Thread(target=scheduler.shutdown, kwargs={"wait": True}, daemon=True)
        waiter.start()
        waiter.join(deadline)
        if waiter.is_alive():
            log.warning("daemon.stop_forced", reason="a tick did not finish before the deadline")
            self._flush()
            # Every write is one transaction, so leaving now loses nothing stored.
            os._exit(0)
        self.close()
        log.info("daemon.stopped")
        return 0

    def close(self) -> None:
        self._give_up_leases()
        self.store.dispose()
        self.lock.release()

    @staticmethod
    def _flush() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()


def every(
    scheduler: BackgroundScheduler,
    name: str,
    interval: timedelta,
    func: Callable[[], object],
    **options: Any,
) -> None:
    """Schedule one of the daemon's own jobs: never two at once, missed runs coalesced."""
    scheduler.add_job(
        func,
        IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
        id=name,
        name=name,
        max_instances=1,
        coalesce=True,
        **options,
    )


def this_machine() -> str:
    """This host and kernel boot: a pid means the same process only within both."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        boot = "unknown-boot"
    return f"{socket.gethostname()}/{boot[:8]}"


def exited_here(holder: str) -> bool:
    """Whether a lease holder ran on this machine, in this boot, and its process is gone."""
    parts = holder.rsplit(":", 2)  # machine:pid:nonce
    if len(parts) != 3:
        return False
    machine, pid, _nonce = parts
    if machine != this_machine() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


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
