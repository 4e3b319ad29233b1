"""When each job runs: the poll jobs and the daemon's own ones on one APScheduler."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from p2pilot.config import Config, PollingConfig
from p2pilot.runtime.jobs import AccountJobs


class Schedule:
    """The daemon's scheduler: every account's job runners, plus its own jobs."""

    def __init__(self, polling: PollingConfig, workers: int) -> None:
        self.polling = polling
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            timezone=UTC,
        )

    def add_accounts(self, accounts: Sequence[AccountJobs]) -> None:
        """Every runner of every account, each first run now, then every interval (jittered)."""
        polling = self.polling
        now = datetime.now(UTC)
        for jobs in accounts:
            for name, runner in jobs.runners.items():
                self.scheduler.add_job(
                    runner,
                    IntervalTrigger(
                        seconds=runner.interval.total_seconds(),
                        jitter=polling.jitter.total_seconds() or None,
                        timezone=UTC,
                    ),
                    id=job_id(jobs, name),
                    name=job_id(jobs, name),
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=max(1, int(polling.misfire_grace.total_seconds())),
                    next_run_time=now,
                )

    def remove_account(self, jobs: AccountJobs) -> None:
        """Stop scheduling an account's runners; a tick already running finishes."""
        for name in jobs.runners:
            self.scheduler.remove_job(job_id(jobs, name))

    def every(
        self, name: str, interval: timedelta, func: Callable[[], object], **options: Any
    ) -> None:
        """Schedule one of the daemon's own jobs: never two at once, missed runs coalesced."""
        self.scheduler.add_job(
            func,
            IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            **options,
        )

    def start(self) -> None:
        self.scheduler.start()

    def job_ids(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()]

    def stop(self, deadline: float) -> bool:
        """Stop new runs now and wait for running ticks; False if one outlives ``deadline`` s."""
        # shutdown(wait=True) stops new runs at once and waits for running ticks;
        # do it in a helper thread so a wedged tick cannot hold the process forever.
        waiter = threading.Thread(
            target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True
        )
        waiter.start()
        waiter.join(deadline)
        return not waiter.is_alive()


def retime(accounts: Sequence[AccountJobs], fresh: Config, schedule: Schedule | None) -> list[str]:
    """Give every runner the reloaded polling intervals; the jobs whose interval changed.

    A changed interval reschedules the job, when the jobs are scheduled (``run``).
    """
    changed = []
    for jobs in accounts:
        for name, runner in jobs.runners.items():
            interval = getattr(fresh.polling, name, None)
            if not isinstance(interval, timedelta):
                continue
            idle = fresh.polling.orders_idle if name == "orders" else None
            if not runner.retime(interval, idle):
                continue
            if schedule is not None:
                schedule.scheduler.reschedule_job(
                    job_id(jobs, name),
                    trigger=IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC),
                )
            changed.append(name)
    return changed


def job_id(jobs: AccountJobs, name: str) -> str:
    """A runner's scheduler job id: ``account:job``."""
    return f"{jobs.account.name}:{name}"
