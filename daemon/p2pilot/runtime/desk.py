"""The desk: what one daemon works with once started, built in one place.

Built in dependency order, each part handed what it needs when it is made:
the accounts (clients, chat channels, the startup check), which of them this
daemon holds, the rule engine, the event dispatcher, every account's jobs, and
on PostgreSQL the lease keeper. Nothing is patched in afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from p2pilot.config import AccountConfig, Config
from p2pilot.logging import get_logger
from p2pilot.rules.dispatch import EventDispatcher
from p2pilot.rules.engine import RuleEngine
from p2pilot.runtime.accounts import Account, AccountOpener, ClientFactory
from p2pilot.runtime.jobs import AccountJobs, JobBuilder
from p2pilot.runtime.leases import Holdings, LeaseKeeper
from p2pilot.runtime.rules import compile_rules, release_limits
from p2pilot.store.engine import Store

log = get_logger(__name__)


@dataclass(frozen=True)
class Desk:
    """The accounts, their jobs, the rules and the leases of one daemon."""

    accounts: list[Account]
    jobs: list[AccountJobs]
    engine: RuleEngine
    dispatcher: EventDispatcher
    holdings: Holdings
    leases: LeaseKeeper | None  # PostgreSQL only: accounts are shared between daemons
    opener: AccountOpener  # for accounts a reload adds
    builder: JobBuilder

    @classmethod
    def build(
        cls,
        config: Config,
        store: Store,
        clock: Callable[[], datetime],
        *,
        client_factory: ClientFactory,
        stopping: threading.Event,
    ) -> Desk:
        """Open every account and build what works for them (no job runs yet)."""
        opener = AccountOpener(config, store, clock, client_factory)
        accounts = opener.open_all()
        holdings = Holdings(leased=store.dialect == "postgresql")
        engine = RuleEngine(
            store,
            compile_rules(config),
            {a.id: a.binding() for a in accounts if a.disabled_reason is None},
            release_limits(config),
            clock,
            stopping=stopping.wait,
            policy=config.evidence.match_policy,
            lease_holder=holdings.holder,
            holds=holdings.holds,
        )
        dispatcher = EventDispatcher(store, clock, handlers=[engine], held=holdings.held)
        builder = JobBuilder(config, store, clock, dispatcher, holdings.holds)
        jobs = builder.build_all(accounts)
        leases = None
        if holdings.leased:

            def settle(account: Account) -> None:
                settled = engine.reconcile_open(account.id)
                if settled:
                    log.info("ledger.reconciled", account=account.name, actions=settled)

            leases = LeaseKeeper(
                store,
                holdings,
                config.database.lease,
                exclusive=dispatcher.exclusive,
                settle=settle,
            )
        return cls(accounts, jobs, engine, dispatcher, holdings, leases, opener, builder)

    @property
    def active_accounts(self) -> list[Account]:
        """The accounts that passed the startup check (or could not be checked yet)."""
        return [a for a in self.accounts if a.disabled_reason is None]

    @property
    def active_jobs(self) -> list[AccountJobs]:
        """The jobs of the active accounts."""
        return [j for j in self.jobs if j.account.disabled_reason is None]

    def settle(self) -> None:
        """Settle what a crash left half-done, before new work begins.

        A leased account is settled when this daemon takes it, in ``refresh_leases``.
        """
        if self.leases is not None:
            self.refresh_leases()
            return
        settled = self.engine.reconcile_open()
        if settled:
            log.info("ledger.reconciled", actions=settled)

    def refresh_leases(self) -> None:
        """Take or renew each active account's lease (PostgreSQL; nothing on SQLite)."""
        if self.leases is not None:
            self.leases.refresh(self.active_accounts)

    def give_up_leases(self) -> None:
        """Hand the leases back on a clean stop."""
        if self.leases is not None:
            self.leases.give_up()

    def add_account(self, config: AccountConfig) -> AccountJobs:
        """Open an account a reload added and build its jobs; the caller schedules them.

        On PostgreSQL it is held once the lease keeper takes it (its share allowing).
        """
        account = self.opener.open(config)
        jobs = self.builder.build(account, rates=False)
        with self.dispatcher.exclusive():
            if account.disabled_reason is None:
                self.engine.bind(account.binding())
            self.accounts.append(account)
            self.jobs.append(jobs)
        log.info("account.added", account=account.name)
        return jobs

    def remove_account(self, jobs: AccountJobs) -> None:
        """Stop working for an account a reload removed, its work finished or handed over.

        Its runners must be unscheduled first. A tick still running ends, the
        events its ticks wrote are handled, then the rules stop acting for it and
        its lease (PostgreSQL) is handed back at once.
        """
        for runner in jobs.runners.values():
            runner.finish()
        self.dispatcher.drain()
        with self.dispatcher.exclusive():
            self.engine.unbind(jobs.account.id)
            self.accounts.remove(jobs.account)
            self.jobs.remove(jobs)
        if self.leases is not None and self.holdings.known(jobs.account.id):
            self.leases.hand_back(jobs.account)
        log.info("account.removed", account=jobs.account.name)

    def replace_rules(self, fresh: Config) -> None:
        """Swap in a reloaded config's rules, limits and match policy between two events."""
        with self.dispatcher.exclusive():
            self.engine.replace_rules(
                compile_rules(fresh), release_limits(fresh), fresh.evidence.match_policy
            )

    def status_line(self) -> str:
        """One line for systemd's STATUS=: what runs and what is failing."""
        failing = sorted(
            f"{jobs.account.name}:{job}"
            for jobs in self.active_jobs
            for job, runner in jobs.runners.items()
            if runner.consecutive_failures
        )
        disabled = [a.name for a in self.accounts if a.disabled_reason]
        parts = [f"{len(self.active_accounts)} account(s) polling"]
        if failing:
            parts.append("failing: " + ", ".join(failing))
        if disabled:
            parts.append("disabled: " + ", ".join(disabled))
        return "; ".join(parts)
