"""What every request thread shares: the exchange, faults, rate limits and the request log.

``server.py`` serves it over HTTP; ``control.py`` and ``scenario.py`` act on it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from p2pilot.simulator.bank import BankNotifier
from p2pilot.simulator.faults import FaultSet
from p2pilot.simulator.limits import UidLimits
from p2pilot.simulator.state import Exchange


class RequestLog:
    """Every P2P request served, for tests and benchmarks to read."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[dict[str, Any]] = deque(maxlen=limit)
        self._seq = 0

    def add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append({"seq": self._seq, **entry})

    def since(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if e["seq"] > seq]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Simulator:
    """State, faults and log shared by every request thread."""

    def __init__(
        self,
        accounts: dict[str, str],
        *,
        enforce_limits: bool = True,
        bank: BankNotifier | None = None,
    ) -> None:
        self.exchange = Exchange(accounts)
        self.faults = FaultSet()
        self.log = RequestLog()
        self.limits = UidLimits(enforce=enforce_limits)
        self.bank = bank  # the merchant's bank: sends an SMS for each payment, when set

    def reset(self) -> None:
        accounts = {k: m.secret for k, m in self.exchange.merchants.items()}
        self.exchange = Exchange(accounts)
        self.faults.remove()
        self.log.clear()
        self.limits = UidLimits(enforce=self.limits.enforce)  # no calls from before count
