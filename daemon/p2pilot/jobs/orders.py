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
from p2pilot.exchange.errors import MalformedResponse, TransientError
from p2pilot.exchange.port import Exchange
from p2pilot.logging import get_logger
from p2pilot.records import OrderDetail, OrderStatus, OrderSummary, Page
from p2pilot.store import accounts, poll_state
from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store
from p2pilot.store.orders import KnownOrder

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
class DetailBudget:
    """A tick's detail reads: how many are left, and how many may go off the pending list."""

    reads: int
    spare: int  # of ``reads``, what orders off the pending list may still take
    max_details: int
    started: float  # time.monotonic() at the tick's start
    box: float | None  # seconds after ``started`` when reading stops (one read at least)

    @classmethod
    def for_tick(cls, max_details: int, time_box: timedelta | None) -> DetailBudget:
        """A fresh budget, its time box starting now."""
        return cls(
            reads=max_details,
            spare=background_share(max_details),
            max_details=max_details,
            started=time.monotonic(),
            box=time_box.total_seconds() if time_box is not None else None,
        )

    def may_read(self) -> bool:
        """Whether one more detail read fits this tick."""
        if self.reads <= 0:
            return False
        if self.box is None or self.reads == self.max_details:
            return True  # every tick makes progress, however slow the exchange
        return time.monotonic() - self.started < self.box

    def take(self, *, spare: bool = False) -> None:
        """Count one detail read (``spare``: for an order off the pending list)."""
        self.reads -= 1
        if spare:
            self.spare -= 1


@dataclass
class _Tick:
    """What one tick has seen, knows, will write, and may still read."""

    now: datetime
    budget: DetailBudget
    seen: dict[str, OrderSummary]  # the pending list, then what the sweep added
    open_known: dict[str, KnownOrder]  # stored orders still open at the tick's start
    known: dict[str, KnownOrder]  # every stored order the tick looked up
    records: list[OrderSummary | OrderDetail] = field(default_factory=list)
    deferred: int = 0  # pending orders whose detail read waits for the next tick
    backfill: bool = False  # the sweep is the account's first: history is stored quietly


@dataclass
class OrdersJob:
    """Poll one account's orders into the store."""

    account: str
    account_id: int
    client: Exchange
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
        # The time box counts from here: the pending list's own read is inside it.
        budget = DetailBudget.for_tick(self.max_details, self.time_box)
        seen = self._read_pending()
        open_known, known = self._load_known(seen)
        return self._process(_Tick(now, budget, seen, open_known, known))

    def _process(self, tick: _Tick) -> list[str]:
        """The tick after its reads of the pending list: details, sweep, read-backs, writes."""
        pending_ids = set(tick.seen)
        # Changed orders first (a paid one may be released), then new ones oldest
        # first: when a burst defers some, the newest wait, not the same old ones
        # every tick while newer keep arriving.
        for summary in sorted(
            tick.seen.values(), key=lambda s: (s.id not in tick.known, s.created_at, s.id)
        ):
            self._consider(tick, summary, pending=True)
        sweep_due = self._sweep_due(tick.now)
        sweep_started = self._sweep_step(tick) if sweep_due else None
        left, read_back = self._read_back(tick, pending_ids)
        self.backlog = tick.deferred + left - read_back + (sweep_due and sweep_started is None)
        written = self._write(tick, sweep_started)
        if sweep_started is not None:
            self.last_sweep_at = sweep_started
        if written or tick.deferred:
            log.bind(account=self.account, job="orders").info(
                "orders.tick", events=len(written), orders=len(tick.seen), deferred=tick.deferred
            )
        return written

    def _read_pending(self) -> dict[str, OrderSummary]:
        """The pending list, by order id; remembers its unread chat counters."""
        seen = {s.id: s for s in self._all_pages(self.client.pending_orders, MAX_PENDING_PAGES)}
        # The chat job reads these: an order with nothing unread costs no chat call.
        self.unread = {order_id: s.unread_count for order_id, s in seen.items()}
        return seen

    def _load_known(
        self, seen: dict[str, OrderSummary]
    ) -> tuple[dict[str, KnownOrder], dict[str, KnownOrder]]:
        """The stored open orders, and those plus the stored ones among ``seen``."""
        with self.store.transaction(read_only=True) as session:
            open_known = stored_orders.load_known(session, self.account_id, None)
            # Pending orders are open in the store unless new or finished there: load
            # only those, not the thousand already at hand.
            known = dict(open_known)
            rest = [order_id for order_id in seen if order_id not in open_known]
            known.update(stored_orders.load_known(session, self.account_id, rest))
        return open_known, known

    def _consider(self, tick: _Tick, summary: OrderSummary, *, pending: bool) -> None:
        """Decide what one listed order costs: nothing, its summary, or a detail read."""
        before = tick.known.get(summary.id)
        budget = tick.budget
        if (
            before is not None
            and before.has_detail
            and before.fingerprint == stored_orders.record_fingerprint(summary)
        ):
            return  # unchanged: no detail read, no write
        if before is not None and before.status == summary.status and before.has_detail:
            tick.records.append(summary)  # a list field moved; the store decides if it matters
        elif pending and budget.may_read():
            budget.take()
            tick.records.append(self._detail_or_summary(summary))  # a buyer may be waiting
        elif pending:
            # Still pending next tick, and still new or changed then: read it then,
            # so this tick ends and the pending list is read again on time.
            tick.deferred += 1
        elif budget.spare > 0 and budget.may_read():
            budget.take(spare=True)
            tick.records.append(self._detail_or_summary(summary))
        else:
            # The status change is recorded now, from the list; the detail is read
            # when a later sweep meets the order again (has_detail stays false).
            tick.records.append(summary)

    def _sweep_step(self, tick: _Tick) -> datetime | None:
        """Run the due sweep unless this tick's reads are spent; when it started, if it ran.

        The sweep comes after the pending orders' details, and waits a tick when
        they used this one up (unless it is long overdue): it only catches orders
        that are already over, while a pending one may have a buyer waiting.
        """
        if not (tick.budget.may_read() or self._sweep_overdue(tick.now)):
            return None
        tick.backfill = self.last_sweep_at is None
        swept = [s for s in self._sweep(tick.now) if s.id not in tick.seen]
        with self.store.transaction(read_only=True) as session:
            tick.known.update(
                stored_orders.load_known(session, self.account_id, [s.id for s in swept])
            )
        for summary in swept:
            if summary.id not in tick.seen:
                tick.seen[summary.id] = summary
                self._consider(tick, summary, pending=False)
        return tick.now

    def _read_back(self, tick: _Tick, pending_ids: set[str]) -> tuple[int, int]:
        """Read back stored open orders this tick's lists no longer show: (left, read back).

        They left "pending" since the last tick: read them back so no final status
        is missed; any beyond this tick's spare reads stay open in the store and
        come next tick.
        """
        budget = tick.budget
        left = [oid for oid in tick.open_known if oid not in pending_ids and oid not in tick.seen]
        read_back = 0
        for order_id in left[: min(budget.spare, budget.reads)]:
            if not budget.may_read():
                break
            budget.take()
            read_back += 1
            detail = self._detail(order_id)
            if detail is not None:
                tick.records.append(detail)
        return len(left), read_back

    def _write(self, tick: _Tick, sweep_started: datetime | None) -> list[str]:
        """Store the tick's records, its sweep's start and the reminders, in one transaction."""
        written: list[str] = []
        paid = any(k.status == OrderStatus.PAID for k in tick.open_known.values())
        if not tick.records and sweep_started is None and not paid:
            # Nothing changed and no paid order to remind of: no write transaction,
            # which on SQLite would queue behind every other account's.
            return written
        with self.store.transaction() as session:
            for record in tick.records:
                written.extend(
                    stored_orders.apply_order(
                        session,
                        self.account_id,
                        record,
                        now=tick.now,
                        announce_new=not self._is_history(tick, record),
                    )
                )
            if sweep_started is not None:
                poll_state.set_sweep(session, self.account_id, "orders", sweep_started)
            written.extend(
                remind_unconfirmed(
                    session, self.account_id, now=tick.now, remind_after=self.remind_after
                )
            )
        return written

    def _is_history(self, tick: _Tick, record: OrderSummary | OrderDetail) -> bool:
        """Whether the first sweep found an order that was over before p2pilot first ran.

        History is stored quietly, so no rule fires for months-old orders; one that
        opened and finished since (an outage, or a kill before the first sweep
        ended) is announced.
        """
        return (
            tick.backfill
            and record.status.is_final
            and record.id not in tick.known
            and self._watched_since is not None
            and record.created_at < self._watched_since
        )

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
