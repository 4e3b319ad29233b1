"""The ledger steps every action handler takes, in one place.

Every side effect follows the same three steps: commit the ledger row as
``sent`` (with what is about to be sent), do it, commit the outcome. A crash
between the first and the last leaves ``sent``, and the handler's ``reconcile``
looks at the outside world to learn what happened before doing anything again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from structlog.stdlib import BoundLogger

from p2pilot.exchange.errors import ExchangeError, RateLimited, TransientError
from p2pilot.metrics import count_action
from p2pilot.store import ledger
from p2pilot.store.engine import Store
from p2pilot.store.ledger import ActionRecord, ActionState

MAX_ATTEMPTS = 3  # sends of one action in all, retries after reconciliation included


class LedgerSteps:
    """Moves one action's ledger row along, one committed transaction per step."""

    def __init__(self, store: Store, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    def settle(
        self,
        record: ActionRecord,
        state: ActionState,
        *,
        error: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Commit the row's new state (and count it in the metrics)."""
        with self.store.transaction() as session:
            ledger.transition(
                session, record.id, state, at=self.clock(), error=error, detail=detail
            )
        count_action(record.kind, state)

    def mark_sent(self, record: ActionRecord, detail: dict[str, Any] | None = None) -> None:
        """Commit ``sent`` (one attempt more) before the side effect leaves the process."""
        with self.store.transaction() as session:
            ledger.transition(
                session,
                record.id,
                ActionState.SENT,
                at=self.clock(),
                detail=detail,
                count_attempt=True,
            )

    def dry_run(self, record: ActionRecord, log: BoundLogger, detail: dict[str, Any]) -> None:
        """Settle as ``dry_run`` with what would have been sent, and say so."""
        self.settle(record, ActionState.DRY_RUN, detail=detail)
        log.info("action.dry_run", **{k: v for k, v in detail.items() if k != "guards"})

    def outcome(
        self,
        record: ActionRecord,
        exc: ExchangeError,
        log: BoundLogger,
        *,
        refused: Callable[[Session], bool] | None = None,
    ) -> None:
        """Settle a failed exchange write: unknown, to be retried, or failed for good.

        ``refused`` runs in the same transaction when the exchange definitely did
        nothing, so what the handler keeps beside the row (a release claim) can
        never be seen settled while the row still says ``sent``. When it returns
        False, that was settled already (by another daemon working on the same row):
        the refusal came late and the row is left as that settlement left it.
        """
        if isinstance(exc, TransientError) and exc.outcome_unknown:
            self.unknown(record, exc, log)
            return
        # The exchange answered and did nothing (rate limit, overload, clock skew):
        # doing it again later is the first time it happens, so retry, bounded.
        retryable = isinstance(exc, RateLimited | TransientError)
        with self.store.transaction() as session:
            if refused is not None and not refused(session):
                log.warning("action.late_refusal_ignored", error=str(exc))
                return
            attempts = ledger.attempts(session, record.id)
            state = (
                ActionState.PENDING if retryable and attempts < MAX_ATTEMPTS else ActionState.FAILED
            )
            ledger.transition(session, record.id, state, at=self.clock(), error=str(exc))
        if state == ActionState.PENDING:
            log.warning("action.will_retry", error=str(exc), attempts=attempts)
        else:
            log.warning("action.failed", error=str(exc), attempts=attempts)

    def unknown(self, record: ActionRecord, exc: ExchangeError, log: BoundLogger) -> None:
        """The write failed in a way that says nothing of whether it took effect."""
        self.settle(record, ActionState.UNKNOWN, error=str(exc))
        log.warning("action.outcome_unknown", error=str(exc))

    def unknown_after_restart(self, record: ActionRecord, log: BoundLogger) -> None:
        """An action that may or may not have run, and cannot be asked: say so, do not redo."""
        if record.state != ActionState.UNKNOWN:
            self.settle(record, ActionState.UNKNOWN, error="outcome unknown after a restart")
            log.warning("action.outcome_unknown")
