"""What ``run`` starts beside the jobs: mailbox readers, the evidence server, metrics.

Each hands new evidence to ``on_evidence`` (a drain of the outbox), so a
payment is acted on at once rather than at the next events run. Imported by
``run`` only: the CLI commands skip the mail and web stacks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from p2pilot import metrics
from p2pilot.config import Config
from p2pilot.evidence.mailbox import MailboxReader
from p2pilot.evidence.notification_hook import NotificationHook
from p2pilot.evidence.payment_hook import PaymentHook
from p2pilot.evidence.routes import evidence_routes
from p2pilot.evidence.server import EvidenceServer
from p2pilot.evidence.texts import TextIntake
from p2pilot.store import orders as stored_orders
from p2pilot.store.engine import Store


class Servers:
    """The mailbox readers, the evidence HTTP server and the metrics server of one run."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Callable[[], datetime],
        on_evidence: Callable[[], None],
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.on_evidence = on_evidence
        settings = config.evidence
        # One intake for every bank text, so repeats across sources are seen.
        self.intake = TextIntake(
            store,
            [template.compiled() for template in settings.templates],
            clock=clock,
            window=settings.same_transfer_window,
            policy=settings.match_policy,
            on_recorded=lambda _r: on_evidence(),
        )
        self.mailboxes = [
            MailboxReader(mailbox, intake=self.intake, store=store, clock=clock)
            for mailbox in settings.mailboxes
        ]
        self.evidence: EvidenceServer | None = None
        self._stop_metrics: Callable[[], None] | None = None

    def start(self) -> None:
        """Start the mailbox readers, then the evidence server and metrics if configured."""
        for reader in self.mailboxes:
            reader.start()
        self.evidence = self._evidence_server()
        if self.evidence is not None:
            self.evidence.start()
        if self.config.metrics.enabled:
            self._stop_metrics = metrics.serve(self.config.metrics.listen, self._oldest_paid)

    def stop(self) -> None:
        """Stop the evidence server, the mailbox readers and metrics, in that order."""
        if self.evidence is not None:
            self.evidence.stop()
        for reader in self.mailboxes:
            reader.stop()  # each finishes the message it is on
        if self._stop_metrics is not None:
            self._stop_metrics()

    def _evidence_server(self) -> EvidenceServer | None:
        settings = self.config.evidence
        if settings.listen is None or (settings.secret is None and not settings.sources):
            return None
        payments = (
            PaymentHook(
                secret=settings.secret.get_secret_value(),
                store=self.store,
                clock=self.clock,
                # New evidence is acted on at once, not at the next events run.
                on_recorded=lambda _result: self.on_evidence(),
                policy=settings.match_policy,
            )
            if settings.secret is not None
            else None
        )
        notices = (
            NotificationHook(sources=settings.sources, intake=self.intake, clock=self.clock)
            if settings.sources
            else None
        )
        return EvidenceServer(settings.listen, evidence_routes(payments=payments, notices=notices))

    def _oldest_paid(self) -> datetime | None:
        """When the oldest paid sell order still waiting for release was paid, if any."""
        with self.store.transaction(read_only=True) as session:
            oldest = stored_orders.oldest_awaiting_release(session)
        return oldest.since if oldest is not None else None
