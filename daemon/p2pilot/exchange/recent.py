"""What the exchange said a moment ago, so it need not be asked, or parsed, again.

``RecentDetails``: when the orders tick reads a sell order's detail and finds it
paid, the release rule runs within milliseconds of that read; a second
``order/info`` then tells nothing the first did not. A caller that accepts an
answer up to ``max_age`` seconds old takes it from here. Ages are measured from
when the request was sent, so they never flatter.

``ParsedRows``: the list rows parsed last time, so an unchanged row is not parsed again.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from p2pilot.records import OrderDetail

T = TypeVar("T")

MAX_ENTRIES = 256  # orders read within one tick or two; older answers are useless anyway


@dataclass(frozen=True, slots=True)
class RecentDetail:
    """One order/info answer and how old it is."""

    detail: OrderDetail
    age: float  # seconds since the request that returned it was sent


class RecentDetails:
    """A small, thread-safe store of the newest order/info answer per order."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # order id -> (when the request was sent, its answer); None: forgotten then
        self._entries: OrderedDict[str, tuple[float, OrderDetail | None]] = OrderedDict()
        self._lock = threading.Lock()

    def now(self) -> float:
        """The clock ``put`` expects its ``sent_at`` from."""
        return self._clock()

    def put(self, detail: OrderDetail, sent_at: float) -> None:
        """Keep ``detail``, read by a request sent at ``sent_at`` (unless a newer one is kept)."""
        with self._lock:
            kept = self._entries.get(detail.id)
            if kept is not None and kept[0] > sent_at:
                return  # a newer answer, or a forget after this request left
            self._keep(detail.id, sent_at, detail)

    def get(self, order_id: str, max_age: float) -> RecentDetail | None:
        """The newest answer for ``order_id`` if at most ``max_age`` seconds old."""
        with self._lock:
            kept = self._entries.get(order_id)
        if kept is None or kept[1] is None:
            return None
        age = self._clock() - kept[0]
        return RecentDetail(kept[1], age) if 0 <= age <= max_age else None

    def forget(self, order_id: str) -> None:
        """Drop what is kept for an order, and any answer to a request sent before now."""
        with self._lock:
            self._keep(order_id, self._clock(), None)

    def _keep(self, order_id: str, sent_at: float, detail: OrderDetail | None) -> None:
        self._entries[order_id] = (sent_at, detail)
        self._entries.move_to_end(order_id)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)


class ParsedRows(Generic[T]):
    """One list endpoint's rows as last parsed: a row equal to last pass's is not re-parsed.

    A desk with a thousand open orders reads the same thousand pending rows every
    second; comparing a row with its previous copy costs a fraction of parsing it.
    Two generations are kept (this pass and the last), so the memory is bounded by
    the list's length. A hit needs the whole row equal, so it is never stale.
    """

    def __init__(self) -> None:
        self._current: dict[str, tuple[dict[str, Any], T]] = {}
        self._previous: dict[str, tuple[dict[str, Any], T]] = {}

    def new_pass(self) -> None:
        """Page one is being read again: what is not seen in this pass is dropped after it."""
        self._previous, self._current = self._current, {}

    def get(self, row: dict[str, Any]) -> T | None:
        """The record parsed from an identical row last time, if any."""
        key = row.get("id")
        if not isinstance(key, str):
            return None
        hit = self._current.get(key) or self._previous.get(key)
        if hit is None or hit[0] != row:
            return None
        self._current[key] = hit
        return hit[1]

    def put(self, row: dict[str, Any], record: T) -> None:
        key = row.get("id")
        if isinstance(key, str):
            self._current[key] = (row, record)
