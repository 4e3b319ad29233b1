"""The orders job: see every order change on one account and record it once.

Each tick:

1. reads the pending list (the fast path: every order that can still change),
2. every ``sweep`` interval also reads the recent full list, to catch orders that
   were created and finished between two ticks,
3. reads ``order/info`` only for orders that are new, changed status, or still
   lack detail, and for stored open orders that left the pending list — at most
   a tick's share of the read budget, pending ones first; the rest wait a tick,
4. writes, in one transaction, the new snapshots and one outbox event per change.

An unchanged order costs no detail call and no write.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from p2pilot.evidence.reminders import DEFAULT_REMIND_AFTER, remind_unconfirmed
from p2pilot.exchange.client import ExchangeClient
from p2pilot.exchange.errors import MalformedResponse, TransientError
from p2pilot.exchange.records import OrderDetail, OrderSummary, Page
from p2pilot.logging import get_logger
from p2pilot.store import accounts, poll_state
from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store

log = get_logger(__name__)

PAGE_SIZE = 30  # Bybit's maximum for the order lists
MAX_PENDING_PAGES = 40  # 1,200 open orders: far beyond any real desk
MAX_SWEEP_PAGES_FIRST = 100  # first sweep on a new database: the whole 90-day window
# Later sweeps reach back this far past the previous one (its start is stored, so a
# restart's sweep covers the downtime too); more only re-reads pages already seen.
SWEEP_OVERLAP = timedelta(minutes=2)
# Detail reads per tick: about a second of the default read budget (the daemon sets
# it from the account's), so that after an outage or a burst the pending list is
# still read every tick or two.
MAX_DETAILS_PER_TICK = 8


def background_share(details: int) -> int:
    """Of a tick's detail reads, how many may go to orders off the pending list.

    Finished ones found by the sweep, or stored open ones that left the list:
    after an outage there may be hundreds, and a tick that reads them all keeps
    the pending list unread for minutes.
    """
    return max(1, details * 3 // 4)


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
    # After this long, a tick reads no more details (at least one): the rest wait a tick.
    time_box: timedelta | None = None
    max_details: int = MAX_DETAILS_PER_TICK
    # What the last tick left for later (orders deferred, a sweep put off, open
    # orders not read back): 0 means the store holds everything the exchange showed.
    backlog: int = 0
    # Paid this long with no evidence: order.paid_unconfirmed ([evidence] remind_after).
    remind_after: timedelta = DEFAULT_REMIND_AFTER
    _sweep_loaded: bool = field(default=False, repr=False)
    # When p2pilot first ran on the account (loaded with the sweep state).
    _watched_since: datetime | None = field(default=None, repr=False)

    def __call__(self) -> None:
        self.tick()

    def idle(self) -> bool:
        """Nothing in flight: the last pending list was empty and nothing was left for later.

        Unknown (no tick yet) is not idle.
        """
        return self.unread == {} and self.backlog == 0

    def tick(self) -> list[str]:
        """Run one tick; returns the event types written."""
        now = self.clock()
        started = time.monotonic()
        box = self.time_box.total_seconds() if self.time_box is not None else None

        def may_read(left: int) -> bool:
            if left <= 0:
                return False
            if box is None or left == self.max_details:
                return True  # every tick makes progress, however slow the exchange
            return time.monotonic() - started < box

        bound = log.bind(account=self.account, job="orders")
        seen: dict[str, OrderSummary] = {}
        for summary in self._all_pages(self.client.pending_orders, MAX_PENDING_PAGES):
            seen[summary.id] = summary
        pending_ids = set(seen)
        # The chat job reads these: an order with nothing unread costs no chat call.
        self.unread = {order_id: s.unread_count for order_id, s in seen.items()}

        with self.store.transaction(read_only=True) as session:
            open_known = stored_orders.load_known(session, self.account_id, None)
            # Pending orders are open in the store unless new or finished there: load
            # only those, not the thousand already at hand.
            known = dict(open_known)
            rest = [order_id for order_id in seen if order_id not in open_known]
            known.update(stored_orders.load_known(session, self.account_id, rest))

        records: list[OrderSummary | OrderDetail] = []
        reads = self.max_details
        spare = background_share(self.max_details)
        deferred = 0

        def consider(summary: OrderSummary, pending: bool) -> None:
            nonlocal reads, spare, deferred
            before = known.get(summary.id)
            if (
                before is not None
                and before.has_detail
                and before.fingerprint == stored_orders.record_fingerprint(summary)
            ):
                return  # unchanged: no detail read, no write
            if before is not None and before.status == summary.status and before.has_detail:
                records.append(summary)  # a list field moved; the store decides if it matters
            elif pending and may_read(reads):
                reads -= 1
                records.append(self._detail_or_summary(summary))  # a buyer may be waiting
            elif pending:
                # Still pending next tick, and still new or changed then: read it then,
                # so this tick ends and the pending list is read again on time.
                deferred += 1
            elif spare > 0 and may_read(reads):
                spare -= 1
                reads -= 1
                records.append(self._detail_or_summary(summary))
            else:
                # The status change is recorded now, from the list; the detail is read
                # when a later sweep meets the order again (has_detail stays false).
                records.append(summary)

        # Changed orders first (a paid one may be released), then new ones oldest
        # first: when a burst defers some, the newest wait, not the same old ones
        # every tick while newer keep arriving.
        for summary in sorted(seen.values(), key=lambda s: (s.id not in known, s.created_at, s.id)):
            consider(summary, pending=True)

        # The sweep comes after the pending orders' details, and waits a tick when
        # they used this one up (unless it is long overdue): it only catches orders
        # that are already over, while a pending one may have a buyer waiting.
        sweep_started = None
        backfill = False
        sweep_due = self._sweep_due(now)
        if sweep_due and (may_read(reads) or self._sweep_overdue(now)):
            sweep_started = now
            backfill = self.last_sweep_at is None
            swept = [s for s in self._sweep(now) if s.id not in seen]
            with self.store.transaction(read_only=True) as session:
                known.update(
                    stored_orders.load_known(session, self.account_id, [s.id for s in swept])
                )
            for summary in swept:
                if summary.id not in seen:
                    seen[summary.id] = summary
                    consider(summary, pending=False)

        # Stored open orders missing from this tick's lists left "pending" since
        # the last tick: read them back so no final status is missed; any beyond
        # this tick's spare reads stay open in the store and come next tick.
        left = [oid for oid in open_known if oid not in pending_ids and oid not in seen]
        read_back = 0
        for order_id in left[: min(spare, reads)]:
            if not may_read(reads):
                break
            reads -= 1
            read_back += 1
            detail = self._detail(order_id)
            if detail is not None:
                records.append(detail)
        self.backlog = deferred + len(left) - read_back + (sweep_due and sweep_started is None)

        written: list[str] = []
        with self.store.transaction() as session:
            for record in records:
                # History found by the account's first sweep is stored quietly, so no
                # rule fires for months-old orders; only orders opened before p2pilot
                # first ran count as history: one that opened and finished since (an
                # outage, or a kill before the first sweep ended) is announced.
                quiet = (
                    backfill
                    and record.status.is_final
                    and record.id not in known
                    and self._watched_since is not None
                    and record.created_at < self._watched_since
                )
                written.extend(
                    stored_orders.apply_order(
                        session, self.account_id, record, now=now, announce_new=not quiet
                    )
                )
            if sweep_started is not None:
                poll_state.set_sweep(session, self.account_id, "orders", sweep_started)
            written.extend(
                remind_unconfirmed(
                    session, self.account_id, now=now, remind_after=self.remind_after
                )
            )
        if sweep_started is not None:
            self.last_sweep_at = sweep_started
        if written or deferred:
            bound.info("orders.tick", events=len(written), orders=len(seen), deferred=deferred)
        return written

    def _sweep_due(self, now: datetime) -> bool:
        if not self._sweep_loaded:
            with self.store.transaction() as session:
                state = poll_state.get_state(session, self.account_id, "orders")
                self._watched_since = accounts.watched_since(session, self.account_id)
            self.last_sweep_at = state.last_sweep_at if state is not None else None
            self._sweep_loaded = True
        return self.last_sweep_at is None or now - self.last_sweep_at >= self.sweep_every

    def _sweep_overdue(self, now: datetime) -> bool:
        """Put off for three intervals by busy ticks: run it even on a busy one."""
        last = self.last_sweep_at
        return last is not None and now - last >= self.sweep_every * 3

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
