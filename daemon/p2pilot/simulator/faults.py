"""Fault injection: make the simulator fail the ways Bybit does (reference §7)."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

FAULTS = (
    "rate_limit",  # 10006, reset header in the future
    "rate_limit_past",  # 10006, reset header in the past (pybit's crash path)
    "timestamp",  # 10002
    "server_error_code",  # 10016
    "permission",  # 912000014 "permission denied\t"
    "chat_closed",  # 912200387 on the per-order chat paths
    "http_403",  # HTML body, IP ban
    "http_429",
    "http_500",
    "empty_body",  # 200 with nothing in it
    "slow",  # answer after delay_ms
    "lost_response",  # do the work, then drop the connection
    "malformed_row",  # do the work, then garble the first list row (or the object)
)
CHAT_PATHS = ("/v5/p2p/order/message/listpage", "/v5/p2p/order/message/send")


@dataclass
class Fault:
    id: int
    name: str
    paths: tuple[str, ...] = ()  # path suffixes; empty: every P2P path
    remaining: int | None = None  # None: until removed
    delay_ms: int = 12_000
    reset_in_ms: int = 1_000
    api_key: str | None = None  # None: every account
    hits: int = field(default=0)

    def applies_to(self, path: str, api_key: str | None = None) -> bool:
        if self.api_key is not None and api_key != self.api_key:
            return False
        if self.name == "chat_closed" and not self.paths:
            return path in CHAT_PATHS
        return not self.paths or any(path.endswith(p) for p in self.paths)


class FaultSet:
    """The active faults; the first that applies to a request takes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._faults: dict[int, Fault] = {}

    def add(
        self,
        name: str,
        *,
        paths: list[str] | None = None,
        count: int | None = None,
        delay_ms: int | None = None,
        reset_in_ms: int | None = None,
        api_key: str | None = None,
    ) -> Fault:
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
        with self._lock:
            fault = Fault(
                id=next(self._ids),
                name=name,
                paths=tuple(paths or ()),
                remaining=count,
                delay_ms=12_000 if delay_ms is None else delay_ms,
                reset_in_ms=1_000 if reset_in_ms is None else reset_in_ms,
                api_key=api_key,
            )
            self._faults[fault.id] = fault
            return fault

    def remove(self, fault_id: int | None = None) -> None:
        with self._lock:
            if fault_id is None:
                self._faults.clear()
            else:
                self._faults.pop(fault_id, None)

    def take(self, path: str, api_key: str | None = None) -> Fault | None:
        """The fault this request meets, consuming one of its uses."""
        with self._lock:
            for fault in list(self._faults.values()):
                if not fault.applies_to(path, api_key):
                    continue
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        del self._faults[fault.id]
                return fault
        return None

    def describe(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {
                    "id": f.id,
                    "fault": f.name,
                    "paths": list(f.paths),
                    "api_key": f.api_key,
                    "remaining": f.remaining,
                    "hits": f.hits,
                }
                for f in self._faults.values()
            ]


def garble(result: object) -> object:
    """The answer with its first list row (or, for one object, itself) garbled.

    Every field but ``id`` becomes an object: the shape a buggy exchange release
    would send, which the client must skip row by row rather than fail a page.
    """
    if not isinstance(result, dict):
        return result
    items = result.get("items")
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return {**result, "items": [_garbled(items[0]), *items[1:]]}
    if isinstance(items, list):
        return result
    return _garbled(result)


def _garbled(row: dict[str, object]) -> dict[str, object]:
    return {key: value if key == "id" else {"garbled": True} for key, value in row.items()}
