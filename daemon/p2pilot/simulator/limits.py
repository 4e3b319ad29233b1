"""Bybit's per-UID limits (reference 1.7): 10 reads and 5 writes in any rolling second.

A request over the limit is answered ``10006 Too many visits!`` with the time the
window frees up, as Bybit does. Tests that are not about pacing switch it off
(``enforce=False``) so they can drive the desk as fast as they like.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_S = 1.0
LIMITS = {"read": 10, "write": 5}


class UidLimits:
    """Sliding one-second windows per (API key, read/write)."""

    def __init__(self, *, enforce: bool = True) -> None:
        self.enforce = enforce
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, api_key: str, kind: str, now: float | None = None) -> int | None:
        """None when the call may proceed; else the reset time in ms since the epoch."""
        if not self.enforce:
            return None
        at = time.time() if now is None else now
        with self._lock:
            calls = self._calls.setdefault((api_key, kind), deque())
            while calls and calls[0] <= at - WINDOW_S:
                calls.popleft()
            if len(calls) >= LIMITS[kind]:
                return int((calls[0] + WINDOW_S) * 1000)
            calls.append(at)
            return None
