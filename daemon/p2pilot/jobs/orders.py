"""The orders job: see every order change on one account and record it once.

Each tick:

1. reads the pending list (the fast path: every order that can still change),
2. every ``sweep`` interval also reads the recent full list, to catch orders that
   were created and finished between two ticks,
3. reads ``order/info`` only for orders that are new, changed status, or still
   lack detail, and for stored open orders that left the pending list,
4. writes, in one transaction, the new snapshots and one outbox event per change.

An unchanged order costs no detail call and no write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import MalformedResponse, TransientError
from p2pilot.exchange.records import OrderDetail, OrderSummary, Page
from p2pilot.logging import get_logger
from p2pilot.store import orders as stored_orders
from p2pilot.store import poll_state
from p2pilot.store.engine import Store

log = get_logger(__name__)

PAGE_SIZE = 30  # Bybit's maximum for the order lists
MAX_PENDING_PAGES = 40  # 1,200 open orders: far beyond any real desk
MAX_SWEEP_PAGES_FIRST = 100  # first sweep on a new database: the whole 90-day window
SWEEP_OVERLAP = timedelta(minutes=10)  # later sweeps reach back past the previous one
MAX_LEFT_PENDING_DETAILS = 30  # detail reads per tick for orders that left "pending"


@dataclass
class OrdersJob:
    """Poll one account's orders into the store."""

    account: str
    account_id: int
    client: ExchangeClient
    store: Store
    sweep_every: timedelta
    clock: Callable[[], datetime]
    last_sweep_at: datetime | None = None
    unread: dict[str, int] | None = None  # pending orders' unread chat counters, last tick
    _sweep_loaded: bool = field(default=False, repr=False)

    def __call__(self) -> None:
        self.tick()

    def tick(self) -> list[str]:
        """Run one tick; returns the event types written."""
        now = self.clock()
        bound = log.bind(account=self.account, job="orders")
        seen: dict[str, OrderSummary] = {}
        for summary in self._all_pages(self.client.pending_orders, MAX_PENDING_PAGES):
            seen[summary.id] = summary
        pending_ids = set(seen)
        # The chat job reads these: an order with nothing unread costs no chat call.
        self.unread = {order_id: s.unread_count for order_id, s in seen.items()}

        sweep_started = None
        backfill = False
        if self._sweep_due(now):
            sweep_started = now
            backfill = self.last_sweep_at is None
            for summary in self._sweep(now):
                seen.setdefault(summary.id, summary)

        with self.store.transaction(read_only=True) as session:
            known = stored_orders.load_known(session, self.account_id, seen.keys())
            open_known = stored_orders.load_known(session, self.account_id, None)

        records: list[OrderSummary | OrderDetail] = []
        for order_id, summary in seen.items():
            before = known.get(order_id)
            if (
                before is not None
                and before.has_detail
                and before.fingerprint == stored_orders.record_fingerprint(summary)
            ):
                continue  # unchanged: no detail read, no write
            if before is not None and before.status == summary.status and before.has_detail:
                records.append(summary)  # a list field moved; the store decides if it matters
                continue
            records.append(self._detail_or_summary(summary))

        # Stored open orders missing from this tick's lists left "pending" since
        # the last tick: read each one back so its final status is not missed.
        left = [oid for oid in open_known if oid not in pending_ids and oid not in seen]
        for order_id in left[:MAX_LEFT_PENDING_DETAILS]:
            detail = self._detail(order_id)
            if detail is not None:
                records.append(detail)

        written: list[str] = []
        with self.store.transaction() as session:
            for record in records:
                # History that had already finished before this account's first
                # sweep is stored quietly: no rule should fire for it.
                quiet = backfill and record.status.is_final and record.id not in known
                written.extend(
                    stored_orders.apply_order(
                        session, self.account_id, record, now=now, announce_new=not quiet
                    )
                )
            if sweep_started is not None:
                poll_state.set_sweep(session, self.account_id, "orders", sweep_started)
        if sweep_started is not None:
            self.last_sweep_at = sweep_started
        if written:
            bound.info("orders.tick", events=len(written), orders=len(seen))
        return written

    def _sweep_due(self, now: datetime) -> bool:
        if not self._sweep_loaded:
            with self.store.transaction() as session:
                state = poll_state.get_state(session, self.account_id, "orders")
            self.last_sweep_at = state.last_sweep_at if state is not None else None
            self._sweep_loaded = True
        return self.last_sweep_at is None or now - self.last_sweep_at >= self.sweep_every

    def _sweep(self, now: datetime) -> Iterator[OrderSummary]:
        """The recent full list, newest first, back to a little before the last sweep."""
        if self.last_sweep_at is None:
            yield from self._all_pages(self.client.orders, MAX_SWEEP_PAGES_FIRST)
            return
        horizon = self.last_sweep_at - SWEEP_OVERLAP
        for summary in self._all_pages(self.client.orders, MAX_SWEEP_PAGES_FIRST):
            yield summary
            if summary.created_at < horizon:
                return

    @staticmethod
    def _all_pages(
        fetch: Callable[..., Page[OrderSummary]], max_pages: int
    ) -> Iterator[OrderSummary]:
        for page in range(1, max_pages + 1):
            result = fetch(page=page, size=PAGE_SIZE)
            yield from result.items
            if result.rows < PAGE_SIZE or page * PAGE_SIZE >= result.count:
                return

    def _detail_or_summary(self, summary: OrderSummary) -> OrderSummary | OrderDetail:
        detail = self._detail(summary.id)
        # Without detail the summary still records the status change now; the
        # detail is fetched on a later tick because has_detail stays false.
        return detail if detail is not None else summary

    def _detail(self, order_id: str) -> OrderDetail | None:
        try:
            return self.client.order_detail(order_id)
        except MalformedResponse as exc:
            log.warning(
                "orders.detail_unreadable", account=self.account, order_id=order_id, error=str(exc)
            )
        except TransientError as exc:
            log.warning(
                "orders.detail_failed", account=self.account, order_id=order_id, error=str(exc)
            )
        return None
