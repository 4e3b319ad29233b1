"""The poll jobs of each account (orders, chat, ads, rates), each in its runner."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from p2pilot import metrics
from p2pilot.config import Config
from p2pilot.jobs.ads import AdsJob
from p2pilot.jobs.chat import ChatJob
from p2pilot.jobs.orders import OrdersJob
from p2pilot.jobs.rates import RatesJob
from p2pilot.jobs.runner import JobRunner
from p2pilot.rules.dispatch import EventDispatcher
from p2pilot.runtime.accounts import Account
from p2pilot.store.engine import Store

Tick = Callable[[], object]


@dataclass(frozen=True)
class AccountJobs:
    """One account's job runners, by job name, and its orders job (for ``run --once``)."""

    account: Account
    orders: OrdersJob
    runners: dict[str, JobRunner] = field(default_factory=dict)


@dataclass(frozen=True)
class JobBuilder:
    """Builds every account's jobs; each tick is followed by the events it wrote."""

    config: Config
    store: Store
    clock: Callable[[], datetime]
    dispatcher: EventDispatcher
    # Whether this daemon holds an account now: a runner skips the others' ticks.
    holds: Callable[[int], bool]

    def build_all(self, accounts: Sequence[Account]) -> list[AccountJobs]:
        """The jobs of every account; the rates job goes to the first usable account."""
        built: list[AccountJobs] = []
        rates_taken = False
        for account in accounts:
            # Market data is the same for every account: the first usable one reads it.
            with_rates = bool(self.config.rates) and account.disabled_reason is None
            built.append(self.build(account, rates=with_rates and not rates_taken))
            rates_taken = rates_taken or with_rates
        return built

    def build(self, account: Account, *, rates: bool) -> AccountJobs:
        """One account's orders, chat and ads jobs (and rates, if asked), in runners."""
        polling = self.config.polling
        orders = self._orders_job(account)
        chat = ChatJob(
            account=account.name,
            account_id=account.id,
            channel=account.chat,
            store=self.store,
            clock=self.clock,
            unread=lambda: orders.unread,
            linger=self.config.chat.linger,
        )
        ads = AdsJob(
            account=account.name,
            account_id=account.id,
            client=account.client,
            store=self.store,
            clock=self.clock,
        )
        runners = {
            "orders": self._orders_runner(account, orders),
            "chat": self._runner(account, "chat", polling.chat, chat.tick),
            "ads": self._runner(account, "ads", polling.ads, ads.tick),
        }
        if rates:
            runners["rates"] = self._runner(account, "rates", polling.rates, self._rates(account))
        return AccountJobs(account, orders, runners)

    def _orders_job(self, account: Account) -> OrdersJob:
        polling = self.config.polling
        return OrdersJob(
            account=account.name,
            account_id=account.id,
            client=account.client,
            store=self.store,
            sweep_every=polling.sweep,
            clock=self.clock,
            # Detail reads stop here: the next tick must not be skipped for this one.
            time_box=polling.orders * 0.7,
            # A tick's share of the read budget: what the exchange allows per interval.
            max_details=max(
                1, int(account.config.reads_per_second * polling.orders.total_seconds())
            ),
            remind_after=self.config.evidence.remind_after,
        )

    def _orders_runner(self, account: Account, orders: OrdersJob) -> JobRunner:
        polling = self.config.polling
        adaptive = polling.orders_idle is not None and polling.orders_idle > polling.orders
        return self._runner(
            account,
            "orders",
            polling.orders,
            orders.tick,
            idle_interval=polling.orders_idle if adaptive else None,
            is_idle=orders.idle,
        )

    def _rates(self, account: Account) -> Tick:
        return RatesJob(
            account=account.name,
            account_id=account.id,
            client=account.client,
            store=self.store,
            entries=list(self.config.rates),
            clock=self.clock,
        ).tick

    def _runner(
        self,
        account: Account,
        job: str,
        interval: timedelta,
        tick: Tick,
        *,
        idle_interval: timedelta | None = None,
        is_idle: Callable[[], bool] = lambda: False,
    ) -> JobRunner:
        return JobRunner(
            account=account.name,
            account_id=account.id,
            job=job,
            interval=interval,
            tick=self._then_events(account.name, job, tick, interval),
            store=self.store,
            clock=self.clock,
            idle_interval=idle_interval,
            is_idle=is_idle,
            holds=functools.partial(self.holds, account.id),
        )

    def _then_events(
        self, account: str, job: str, tick: Tick, interval: timedelta
    ) -> Callable[[], None]:
        """A job tick followed by the events it wrote.

        Handled at once, not at the next events-job run: a new order is acted on
        within the tick that saw it. Retries are the events job's, and so is a
        backlog: past a quarter of the interval the poll job leaves the rest to it.
        """
        share = interval.total_seconds() / 4
        duration = metrics.POLL_DURATION.labels(account, job)
        dispatcher = self.dispatcher

        def run() -> None:
            with duration.time():
                tick()
            # Not the retries, and not behind another drain: polling must go on.
            dispatcher.drain(wait=False, retries=False, for_seconds=share)

        return run
