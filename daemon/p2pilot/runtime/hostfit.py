"""Does the configured polling fit the host's request budget? Said before a ban says it.

Bybit bans an IP that sends more than 600 requests in 5 seconds, every account on
it for ten minutes. The daemon paces its calls under ``[host] requests_per_5s``
(:class:`p2pilot.exchange.budget.HostBudget`), so it is never banned; but a desk
whose accounts are configured to poll faster than that budget allows would just
poll late, all the time. This module says so from the config alone, at start and
in ``status``, with the orders interval that would fit.

The estimate is an idle desk's: per account, one pending-list read per
``polling.orders`` (``orders_idle`` is not counted: a busy desk polls at
``orders``), one full-list read per ``sweep`` and one ads read per ``ads``; once
per daemon, one market read per ``[[rates]]`` entry per ``rates``. Orders being
worked add detail reads, chat and releases on top, so the idle demand must leave
a fifth of the budget free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from p2pilot.config import Config

WINDOW = 5.0  # seconds: Bybit's per-IP window
IDLE_SHARE = 0.8  # of the budget an idle desk may use; the rest is for orders being worked
STEP = 0.1  # seconds: the suggested interval is rounded up to this


@dataclass(frozen=True, slots=True)
class HostFit:
    """The configured polling against the host budget, in requests per 5 seconds."""

    accounts: int
    budget: int
    demand: float  # an idle desk's requests per 5 s, as configured
    orders_interval: timedelta  # as configured
    fitting_interval: timedelta | None  # the shortest orders interval that fits; None: none does

    @property
    def fits(self) -> bool:
        return self.demand <= self.budget * IDLE_SHARE

    def advice(self) -> str | None:
        """One sentence for the operator when it does not fit; None when it does."""
        if self.fits:
            return None
        needs = (
            f"{self.accounts} accounts polling every {_seconds(self.orders_interval)} need about"
            f" {self.demand:.0f} requests per 5 s of the host's {self.budget}"
            f" ([host] requests_per_5s), leaving too little for orders being worked"
        )
        if self.fitting_interval is None:
            return f"{needs}; no orders interval fits: run fewer accounts on this host"
        return f'{needs}; polling.orders = "{_seconds(self.fitting_interval)}" would fit'

    def to_json(self) -> dict[str, Any]:
        return {
            "accounts": self.accounts,
            "requests_per_5s": self.budget,
            "idle_demand_per_5s": round(self.demand, 1),
            "fits": self.fits,
            "orders_interval_that_fits": (
                _seconds(self.fitting_interval) if self.fitting_interval is not None else None
            ),
        }


def host_fit(config: Config) -> HostFit:
    """The idle demand of ``config``'s enabled accounts against its host budget."""
    polling = config.polling
    accounts = sum(1 for account in config.accounts if account.enabled)
    per_account = WINDOW / polling.sweep.total_seconds() + WINDOW / polling.ads.total_seconds()
    shared = len(config.rates) * WINDOW / polling.rates.total_seconds() if accounts else 0.0
    orders = polling.orders.total_seconds()
    demand = accounts * (WINDOW / orders + per_account) + shared
    room = config.host.requests_per_5s * IDLE_SHARE - shared - accounts * per_account
    fitting: timedelta | None = None
    if accounts and room > 0:
        # accounts * WINDOW / interval <= room, rounded up to a tenth of a second
        needed = math.ceil(accounts * WINDOW / room / STEP - 1e-9) * STEP
        fitting = timedelta(seconds=max(needed, orders))
    return HostFit(accounts, config.host.requests_per_5s, demand, polling.orders, fitting)


def _seconds(interval: timedelta) -> str:
    return f"{interval.total_seconds():g}s"
