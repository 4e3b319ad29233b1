"""Is the daemon keeping up? Each poll job's last success against its interval.

A job is stale when its last success is older than three of its intervals (at
least a minute): the daemon is down, wedged, or cannot reach the exchange.
``p2pilot status`` and the console's desk both show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from p2pilot.config import Config

MIN_STALE_AFTER = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class JobHealth:
    account: str
    job: str
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    consecutive_failures: int
    lag: timedelta | None
    stale: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "job": self.job,
            "last_success_at": _iso(self.last_success_at),
            "last_error_at": _iso(self.last_error_at),
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "lag_seconds": round(self.lag.total_seconds(), 1) if self.lag is not None else None,
            "stale": self.stale,
        }


def job_intervals(config: Config) -> dict[str, timedelta]:
    polling = config.polling
    intervals = {"orders": polling.orders, "chat": polling.chat, "ads": polling.ads}
    if config.rates:
        intervals["rates"] = polling.rates
    return intervals


def jobs_health(
    config: Config, states: dict[tuple[str, str], Any], now: datetime
) -> list[JobHealth]:
    """Every (account, job) the config runs, with its stored state; stale when overdue."""
    intervals = job_intervals(config)
    jobs: list[JobHealth] = []
    rates_seen = any(job == "rates" for _, job in states)
    for account in config.accounts:
        if not account.enabled:
            continue
        for job, interval in intervals.items():
            state = states.get((account.name, job))
            if job == "rates" and state is None and rates_seen:
                continue  # market data is read through one account only
            last = state.last_success_at if state else None
            lag = now - last if last is not None else None
            stale = lag is None or lag > max(3 * interval, MIN_STALE_AFTER)
            jobs.append(
                JobHealth(
                    account=account.name,
                    job=job,
                    last_success_at=last,
                    last_error_at=state.last_error_at if state else None,
                    last_error=state.last_error if state else None,
                    consecutive_failures=state.consecutive_failures if state else 0,
                    lag=lag,
                    stale=stale,
                )
            )
    return jobs


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
