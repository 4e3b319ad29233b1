"""Bybit's rate limits (reference 1.7), per UID and per IP.

- Per UID: 10 reads and 5 writes in any rolling second. A request over the limit
  is answered ``10006 Too many visits!`` with the time the window frees up.
- Per IP: 600 requests in any 5 seconds, all keys together. Over it, HTTP 403
  "access too frequent", and every request from that address is refused the same
  way for ten minutes.

Tests that are not about pacing switch both off (``enforce=False``) so they can
drive the desk as fast as they like.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_S = 1.0
LIMITS = {"read": 10, "write": 5}
IP_WINDOW_S = 5.0
IP_LIMIT = 600
IP_BAN_S = 600.0


class UidLimits:
    """Sliding one-second windows per (API key, read/write), and the per-IP window."""

    def __init__(
        self, *, enforce: bool = True, ip_limit: int = IP_LIMIT, ip_ban_s: float = IP_BAN_S
    ) -> None:
        self.enforce = enforce
        self.ip_limit = ip_limit
        self.ip_ban_s = ip_ban_s
        self._calls: dict[tuple[str, str], deque[float]] = {}
        self._ips: dict[str, deque[float]] = {}
        self._banned: dict[str, float] = {}
        self._lock = threading.Lock()

    def ip_allows(self, ip: str, now: float | None = None) -> bool:
        """Count a request from ``ip``; False when it is (or just got) banned."""
        if not self.enforce:
            return True
        at = time.time() if now is None else now
        with self._lock:
            if self._banned.get(ip, 0.0) > at:
                return False
            calls = self._ips.setdefault(ip, deque())
            while calls and calls[0] <= at - IP_WINDOW_S:
                calls.popleft()
            calls.append(at)
            if len(calls) > self.ip_limit:
                self._banned[ip] = at + self.ip_ban_s
                return False
            return True

    def lift_bans(self) -> None:
        """Forget every IP ban and count (the control API; Bybit's lift after ten minutes)."""
        with self._lock:
            self._banned.clear()
            self._ips.clear()

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
