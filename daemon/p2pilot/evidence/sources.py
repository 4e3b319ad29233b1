"""The daemon's sources of bank texts: the forwarded-notification intake and the mailboxes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from p2pilot.config import Config
from p2pilot.evidence.intake import IntakeResult
from p2pilot.evidence.mailbox import MailboxReader
from p2pilot.evidence.texts import TextIntake
from p2pilot.store.engine import Store


class TextSources:
    """One intake for every bank text (so repeats across sources are seen), and its mailboxes."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store,
        clock: Callable[[], datetime],
        on_recorded: Callable[[IntakeResult], None],
    ) -> None:
        settings = config.evidence
        self.intake = TextIntake(
            store,
            [template.compiled() for template in settings.templates],
            clock=clock,
            window=settings.same_transfer_window,
            policy=settings.match_policy,
            on_recorded=on_recorded,
        )
        self.readers = [
            MailboxReader(mailbox, intake=self.intake, store=store, clock=clock)
            for mailbox in settings.mailboxes
        ]

    def start(self) -> None:
        """Start reading every mailbox."""
        for reader in self.readers:
            reader.start()

    def stop(self) -> None:
        """Stop the mailbox readers (each finishes the message it is on)."""
        for reader in self.readers:
            reader.stop()
