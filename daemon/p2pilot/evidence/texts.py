"""Bank texts in, evidence out: one transfer is one piece of evidence, however often told.

Forwarded SMS and pushes and receipt mails all come through ``TextIntake.take``:

- a text read before (a forwarder's retry, a mailbox message already taken) is
  recognised and changes nothing;
- a text no template reads is stored as unparsed, a ``payment.unmatched`` event
  (reason ``unparsed``) is written with it, and the operator can record it by hand;
- a text that reports a transfer an earlier text already reported (the SMS and
  the push of one payment: same amount, currency and payer within
  ``same_transfer_window``, and no two different bank references) is kept as a
  repeat of that evidence;
- anything else becomes evidence through ``record_evidence``, the one place that
  binds evidence to orders (and holds possible duplicates and third-party payers),
  in the transaction that stores the text.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from p2pilot.evidence.intake import IntakeResult, record_evidence_in
from p2pilot.evidence.matching import DEFAULT_POLICY, MatchPolicy
from p2pilot.evidence.templates import Attempt, Reading, Template, attempts
from p2pilot.logging import get_logger
from p2pilot.store import notifications
from p2pilot.store.accounts import account_ids
from p2pilot.store.engine import Store
from p2pilot.store.events import append_event
from p2pilot.store.models import PaymentRow

log = get_logger(__name__)

PAYMENT_UNMATCHED = "payment.unmatched"
UNPARSED_REASON = "unparsed"
MAX_STORED_TEXT = 8192
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class BankText:
    """One text as a source delivered it."""

    channel: str  # "notice" (a forwarded SMS or push) or "mail"
    source: str  # the source's or the mailbox's name
    text: str
    sender: str | None
    received_at: datetime
    origin: str | None = None  # unique where it came from (a mailbox message), if known
    account: str | None = None  # the source serves only this account


@dataclass(frozen=True, slots=True)
class TextOutcome:
    """What became of a text."""

    notification_id: int
    status: str  # notifications.EVIDENCE, REPEAT or UNPARSED
    payment_id: int | None
    order_id: str | None  # the order the evidence was bound to, if it was
    reason: str
    fresh: bool  # False: this very text was taken before (a retry): nothing changed


def text_digest(text: str) -> str:
    """A digest of the text that ignores how a forwarder spaced or wrapped it."""
    return hashlib.sha256(_SPACES.sub(" ", text).strip().casefold().encode()).hexdigest()


def same_payer(a: str | None, b: str | None) -> bool:
    """The payer names two texts of one bank give for one transfer: the same words."""
    if a is None or b is None:
        return False
    return _words(a) == _words(b)


def _words(name: str) -> tuple[str, ...]:
    return tuple(w for w in re.split(r"[\W_]+", name.casefold()) if w)


class TextIntake:
    """Takes bank texts from any source; safe to call from several threads."""

    def __init__(
        self,
        store: Store,
        templates: Sequence[Template],
        *,
        clock: Callable[[], datetime],
        window: timedelta = timedelta(minutes=10),
        policy: MatchPolicy = DEFAULT_POLICY,
        on_recorded: Callable[[IntakeResult], None] | None = None,
    ) -> None:
        self._store = store
        self._templates = tuple(templates)
        self._clock = clock
        self._window = window
        self._policy = policy
        self._on_recorded = on_recorded
        # The SMS and the push of one payment arrive together: deciding "already
        # reported?" and recording must not interleave between them.
        self._lock = threading.Lock()

    def take(self, text: BankText, *, templates: Sequence[str] | None = None) -> TextOutcome:
        """Store ``text`` and turn it into evidence if a template reads it.

        ``templates`` limits the templates tried to these names (a mailbox's list).
        """
        usable = [t for t in self._templates if templates is None or t.name in templates]
        with self._lock:
            outcome, result = self._take(text, usable)
        if result is not None and result.order_id is not None and self._on_recorded is not None:
            try:
                self._on_recorded(result)
            except Exception:
                log.exception("evidence.dispatch_failed", order_id=result.order_id)
        return outcome

    def _take(
        self, text: BankText, usable: Sequence[Template]
    ) -> tuple[TextOutcome, IntakeResult | None]:
        now = self._clock()
        digest = text_digest(text.text)
        # One transaction: evidence kept without its text (a crash between the two)
        # would be unknown to a retry, which becomes a second payment for one transfer.
        with self._store.transaction() as session:
            read = self._read(session, text, digest, usable, now)
            if isinstance(read, TextOutcome):
                return read, None
            outcome, result = self._record(session, text, read, digest, now)
        log.info(
            "payment.received" if result.order_id else "notification.evidence",
            notification_id=outcome.notification_id,
            order_id=result.order_id,
            source=text.source,
            template=read.template,
            reason=result.reason,
            stored=result.stored,
        )
        return outcome, result

    def _read(
        self,
        session: Session,
        text: BankText,
        digest: str,
        usable: Sequence[Template],
        now: datetime,
    ) -> TextOutcome | Reading:
        """A reading to record as evidence, or the outcome of a text that gives none.

        A text gives none when it was seen before, when no template reads it (it
        is kept as unparsed), or when it repeats a transfer an earlier text reported.
        """
        seen = self._seen_before(session, text, digest)
        if seen is not None:
            return seen
        tried = attempts(usable, text.text, sender=text.sender)
        reading = next((a.reading for a in tried if a.reading is not None), None)
        if reading is None:
            return self._unparsed(session, text, digest, tried_reason(tried), now)
        earlier = self._same_transfer(session, reading, text.received_at)
        if earlier is None:
            return reading
        row = self._store_text(
            session,
            text,
            digest,
            now,
            status=notifications.REPEAT,
            reading=reading,
            payment_id=earlier.payment_id,
            reason=f"the same transfer as notification {earlier.id}",
        )
        log.info(
            "notification.repeat",
            notification_id=row.id,
            repeats=earlier.id,
            source=text.source,
        )
        return _outcome(row, None, fresh=True)

    def _record(
        self, session: Session, text: BankText, reading: Reading, digest: str, now: datetime
    ) -> tuple[TextOutcome, IntakeResult]:
        """Record what the text reads as payment evidence, and the text beside it."""
        # Without the bank's reference: the text and its time. A retry repeats both (and
        # is refused as a replay); the same words for a second transfer later do not.
        stamp = text.received_at.astimezone(UTC).strftime("%Y%m%d%H%M%S")
        reference = reading.reference or f"{text.channel}-{digest[:20]}-{stamp}"
        result = record_evidence_in(
            session,
            amount=reading.amount,
            currency=reading.currency,
            payer_name=reading.payer,
            reference=reference,
            received_at=text.received_at,
            source=f"{text.channel}:{text.source}"[:32],
            now=now,
            account=text.account,
            policy=self._policy,
        )
        if result.stored:
            status, payment_id = notifications.EVIDENCE, result.payment_id
        else:
            # The bank's reference was reported before (by a hook, a mailbox...).
            payment_id = session.scalars(
                select(PaymentRow.id).where(PaymentRow.reference == reference)
            ).first()
            status = notifications.REPEAT
        row = self._store_text(
            session,
            text,
            digest,
            now,
            status=status,
            reading=reading,
            payment_id=payment_id,
            reason=result.reason,
        )
        return _outcome(row, result.order_id, fresh=True), result

    def _seen_before(self, session: Session, text: BankText, digest: str) -> TextOutcome | None:
        if text.origin is not None:
            known = notifications.by_origin(session, text.origin)
            if known is not None:
                return _outcome(known, None, fresh=False)
        same = notifications.same_text_near(session, digest, text.received_at, self._window)
        if same is not None and text.origin is None:
            return _outcome(same, None, fresh=False)
        return None

    def _same_transfer(
        self, session: Session, reading: Reading, received_at: datetime
    ) -> notifications.NotificationRecord | None:
        for earlier in notifications.evidence_near(
            session,
            amount=reading.amount,
            currency=reading.currency,
            received_at=received_at,
            window=self._window,
        ):
            references = {earlier.reference, reading.reference} - {None}
            if same_payer(earlier.payer_name, reading.payer) and len(references) <= 1:
                return earlier
        return None

    def _unparsed(
        self, session: Session, text: BankText, digest: str, reason: str, now: datetime
    ) -> TextOutcome:
        row = self._store_text(
            session,
            text,
            digest,
            now,
            status=notifications.UNPARSED,
            reading=None,
            payment_id=None,
            reason=reason,
        )
        ids = account_ids(session)
        account_id = ids.get(text.account or "") or next(iter(ids.values()), None)
        if account_id is not None:
            append_event(
                session,
                account_id=account_id,
                order_pk=None,
                type=PAYMENT_UNMATCHED,
                payload={
                    "account": next(k for k, v in ids.items() if v == account_id),
                    "reason": UNPARSED_REASON,
                    "notification": row.to_json(),
                },
                at=now,
            )
        log.warning(
            PAYMENT_UNMATCHED,
            reason=UNPARSED_REASON,
            notification_id=row.id,
            source=text.source,
            detail=reason,
        )
        return _outcome(row, None, fresh=True)

    @staticmethod
    def _store_text(
        session: Session,
        text: BankText,
        digest: str,
        now: datetime,
        *,
        status: str,
        reading: Reading | None,
        payment_id: int | None,
        reason: str,
    ) -> notifications.NotificationRecord:
        ids = account_ids(session)
        return notifications.add_notification(
            session,
            source=text.source,
            channel=text.channel,
            origin=text.origin,
            sender=text.sender[:200] if text.sender else None,
            text=text.text[:MAX_STORED_TEXT],
            digest=digest,
            received_at=text.received_at,
            status=status,
            template=reading.template if reading else None,
            amount=reading.amount if reading else None,
            currency=reading.currency if reading else None,
            payer_name=reading.payer if reading else None,
            reference=reading.reference if reading else None,
            account_id=ids.get(text.account) if text.account else None,
            payment_id=payment_id,
            reason=reason,
            created_at=now,
        )


def tried_reason(tried: Sequence[Attempt]) -> str:
    """Why no template read a text, in one line (each template and its problem)."""
    parts = [f"{a.template}: {a.problem}" for a in tried]
    return "no template reads it" + (f" ({'; '.join(parts)})" if parts else " (no templates)")


def _outcome(
    row: notifications.NotificationRecord, order_id: str | None, *, fresh: bool
) -> TextOutcome:
    return TextOutcome(
        notification_id=row.id,
        status=row.status,
        payment_id=row.payment_id,
        order_id=order_id,
        reason=row.reason or "",
        fresh=fresh,
    )
