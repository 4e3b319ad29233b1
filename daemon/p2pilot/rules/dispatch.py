"""Drain the outbox: hand every stored event, in order, to its handlers exactly once.

Poll jobs only write events; this is the single place that reads them back. Each
event is logged under its own name (``order.paid``, ...) with ``account`` and
``order_id``, passed to every handler, then marked handled -- only after every
handler returned: a crash in between hands the event to the handlers again, and
the actions ledger makes that harmless.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from p2pilot.logging import get_logger
from p2pilot.metrics import EVENTS
from p2pilot.store import events as outbox
from p2pilot.store.engine import Store
from p2pilot.store.events import EventRecord

log = get_logger(__name__)

# Payload keys worth repeating on the log line; the rest stays in the database.
LOGGED_KEYS = ("side", "status_name", "from", "to", "amount", "currency", "token", "counterparty")


class EventHandler(Protocol):
    """Something that reacts to events (the rule engine).

    It manages its own transactions: whatever it records before a side effect
    must be committed before that side effect happens. It may see the same event
    again after a crash, and must find its own earlier records then.
    """

    def handle(self, event: EventRecord) -> None: ...

    def retry_due(self) -> int:
        """Retry work a transient failure left open; how many rows were tried."""
        ...


class EventDispatcher:
    """Reads pending outbox rows in id order and dispatches them."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        handlers: Sequence[EventHandler] = (),
        batch: int = 200,
        held: Callable[[], Collection[int] | None] = lambda: None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.handlers = list(handlers)
        self.batch = batch
        # The accounts this daemon holds (leases): their events are ours; None: every account.
        self.held = held
        self._lock = threading.Lock()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """No event is being handled while the block runs (used to swap rules)."""
        with self._lock:
            yield

    def drain(
        self, *, wait: bool = True, retries: bool = True, for_seconds: float | None = None
    ) -> int:
        """Dispatch every pending event, then retries that are due; how many events were handled.

        A poll job calls this with ``wait=False, retries=False`` right after its tick:
        if another thread is draining, that thread handles the new events too (it
        reads the outbox until it is empty), and the poll job goes back to polling
        instead of queueing behind actions and retries. ``for_seconds`` stops it
        after the first event that ends past that time; the rest stay in the outbox,
        in order, for the next drain.
        """
        # Serialised: events are handled strictly in order, by one thread at a time.
        if not self._lock.acquire(blocking=wait):
            return 0
        deadline = time.monotonic() + for_seconds if for_seconds is not None else None
        try:
            handled = self._dispatch_pending(deadline)
            if retries:
                for handler in self.handlers:
                    handler.retry_due()
                handled += self._dispatch_pending()  # written by the poll jobs meanwhile
        finally:
            self._lock.release()
        return handled

    def _dispatch_pending(self, deadline: float | None = None) -> int:
        handled = 0
        while True:
            with self.store.transaction() as session:
                pending = outbox.pending_events(session, limit=self.batch, account_ids=self.held())
            if not pending:
                return handled
            for event in pending:
                # Asked per event, not per batch: a lease lost while this batch runs
                # stops the account's events here; they stay pending for its holder.
                held = self.held()
                if held is not None and event.account_id not in held:
                    log.warning(
                        "events.lease_lost",
                        account_id=event.account_id,
                        event_id=event.id,
                        trigger=event.type,
                    )
                    break
                self._dispatch(event)
                handled += 1
                if deadline is not None and time.monotonic() >= deadline:
                    return handled

    def _dispatch(self, event: EventRecord) -> None:
        payload: dict[str, Any] = event.payload
        fields = {k: payload[k] for k in LOGGED_KEYS if k in payload}
        log.info(
            event.type,
            account=payload.get("account"),
            order_id=payload.get("order_id"),
            event_id=event.id,
            **fields,
        )
        EVENTS.labels(event.type).inc()
        for handler in self.handlers:
            handler.handle(event)
        with self.store.transaction() as session:
            outbox.mark_handled(session, event.id, at=self.clock())
