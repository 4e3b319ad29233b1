"""Bank texts become evidence once: retries, the SMS and the push of one transfer, unparsed texts.

Real database (SQLite and PostgreSQL); no exchange needed: evidence that fits no
order is stored unbound, which is what these tests look at.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from p2pilot.evidence.templates import Template
from p2pilot.evidence.texts import UNPARSED_REASON, BankText, TextIntake
from p2pilot.store import notifications
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.models import NotificationRow, OrderEventRow, PaymentRow

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SMS = Template.build(
    "sms",
    r"Перевод (?P<amount>\d[\d\s]*(?:,\d\d)?\s?₽) от (?P<payer>[^\d\n]+?)\.?\s+Баланс",
    sender="^900$",
)
PUSH = Template.build(
    "push",
    r"\+(?P<amount>\d[\d\s]*(?:,\d\d)?) (?P<currency>₽) от (?P<payer>[^\d\n.]+?)\."
    r"(?:.*?операции:? (?P<reference>[A-Z0-9]+))?",
    sender="bank",
)
SMS_TEXT = "Перевод 2 500,00 ₽ от Анна Ковалева. Баланс: 10 000,00 ₽"
PUSH_TEXT = "+2 500,00 ₽ от Анна Ковалева. Номер операции: B123456789"


def intake(store: Store, clock: list[datetime]) -> TextIntake:
    with store.transaction() as session:
        ensure_account(session, "desk")
    return TextIntake(store, [SMS, PUSH], clock=lambda: clock[0], window=timedelta(minutes=10))


def text(body: str, sender: str, at: datetime, **extra: str) -> BankText:
    return BankText(
        channel="notice", source="phone", text=body, sender=sender, received_at=at, **extra
    )


def counts(store: Store) -> tuple[int, int, int]:
    with store.transaction(read_only=True) as session:
        return (
            session.scalar(select(func.count()).select_from(PaymentRow)) or 0,
            session.scalar(select(func.count()).select_from(NotificationRow)) or 0,
            # Texts no template read; evidence held for an order is another reason.
            sum(
                1
                for payload in session.scalars(
                    select(OrderEventRow.payload).where(OrderEventRow.type == "payment.unmatched")
                )
                if payload.get("reason") == UNPARSED_REASON
            ),
        )


def test_a_retry_of_the_same_text_changes_nothing(store: Store) -> None:
    subject = intake(store, [T0])
    first = subject.take(text(SMS_TEXT, "900", T0))
    assert first.status == notifications.EVIDENCE and first.fresh and first.payment_id
    # A forwarder that did not hear back sends the same text again, spaced differently.
    again = subject.take(
        text(SMS_TEXT.replace(" от ", "  от\n"), "900", T0 + timedelta(seconds=30))
    )
    assert not again.fresh and again.notification_id == first.notification_id
    assert counts(store) == (1, 1, 0)
    with store.transaction(read_only=True) as session:
        payment = session.get(PaymentRow, first.payment_id)
        assert payment is not None
        assert (payment.amount, payment.currency, payment.payer_name) == (
            Decimal("2500.00"),
            "RUB",
            "Анна Ковалева",
        )
        assert payment.source == "notice:phone"


def test_the_sms_and_the_push_of_one_transfer_are_one_piece_of_evidence(store: Store) -> None:
    subject = intake(store, [T0])
    sms = subject.take(text(SMS_TEXT, "900", T0))
    push = subject.take(text(PUSH_TEXT, "ru.bank.app", T0 + timedelta(seconds=4)))
    assert push.fresh and push.status == notifications.REPEAT
    assert push.payment_id == sms.payment_id
    assert f"notification {sms.notification_id}" in push.reason
    assert counts(store) == (1, 2, 0)


def test_two_transfers_stay_two(store: Store) -> None:
    subject = intake(store, [T0])
    subject.take(text(PUSH_TEXT, "bank", T0))
    # Same amount and payer, but the bank gives a different operation number.
    other = subject.take(text(PUSH_TEXT.replace("B123456789", "B987654321"), "bank", T0))
    assert other.status == notifications.EVIDENCE
    # The same text again, but long after: the buyer paid a second order.
    later = T0 + timedelta(hours=2)
    sms_again = subject.take(text(SMS_TEXT.replace("10 000", "7 500"), "900", later))
    assert sms_again.status == notifications.EVIDENCE
    assert counts(store) == (3, 3, 0)


def test_a_look_alike_from_another_sender_is_unparsed_not_evidence(store: Store) -> None:
    subject = intake(store, [T0])
    outcome = subject.take(text(SMS_TEXT, "+79990001122", T0))
    assert outcome.status == notifications.UNPARSED and outcome.payment_id is None
    assert "sender '+79990001122' does not fit" in outcome.reason
    assert counts(store) == (0, 1, 1)
    with store.transaction(read_only=True) as session:
        event = session.scalars(
            select(OrderEventRow).where(OrderEventRow.type == "payment.unmatched")
        ).one()
        assert event.payload["reason"] == "unparsed"
        assert event.payload["notification"]["text"] == SMS_TEXT
        (listed,) = notifications.unparsed(session)
        assert listed.id == outcome.notification_id
    retry = subject.take(text(SMS_TEXT, "+79990001122", T0 + timedelta(seconds=10)))
    assert not retry.fresh and counts(store) == (0, 1, 1)  # one event, not one per retry


def test_a_mailbox_message_is_read_once_even_if_its_text_repeats(store: Store) -> None:
    subject = intake(store, [T0])
    mail = BankText(
        channel="mail",
        source="receipts",
        text=PUSH_TEXT,
        sender="bank",
        received_at=T0,
        origin="imap:receipts:7:41",
    )
    assert subject.take(mail).fresh
    assert not subject.take(mail).fresh  # the same message (a restart): nothing
    forwarded = dataclasses.replace(mail, origin="imap:receipts:7:42")
    copy = subject.take(forwarded)  # another message with the same receipt
    assert copy.fresh and copy.status == notifications.REPEAT
    assert counts(store) == (1, 2, 0)


def test_the_sms_and_the_push_arriving_at_once_are_still_one_transfer(store: Store) -> None:
    subject = intake(store, [T0])
    barrier = threading.Barrier(2)
    outcomes = []

    def post(body: str, sender: str) -> None:
        barrier.wait()
        outcomes.append(subject.take(text(body, sender, T0)))

    threads = [
        threading.Thread(target=post, args=(SMS_TEXT, "900")),
        threading.Thread(target=post, args=(PUSH_TEXT, "bank")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(o.status for o in outcomes) == [notifications.EVIDENCE, notifications.REPEAT]
    assert counts(store) == (1, 2, 0)


class CrashesAfterEvidence(TextIntake):
    """The daemon dies between the evidence and the notification row (the first time)."""

    crashed = False

    def _store_text(self, *args: object, **kwargs: object) -> notifications.NotificationRecord:  # type: ignore[override]
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed")
        return TextIntake._store_text(*args, **kwargs)  # type: ignore[arg-type]


def test_a_crash_before_the_text_is_stored_does_not_leave_its_evidence_behind(
    store: Store,
) -> None:
    """Kept without its text, the evidence was unknown to the forwarder's retry, which
    (without ``sent_at``, so at another time) became a second payment for one transfer."""
    with store.transaction() as session:
        ensure_account(session, "desk")
    subject = CrashesAfterEvidence(
        store, [SMS, PUSH], clock=lambda: T0, window=timedelta(minutes=10)
    )
    with pytest.raises(RuntimeError, match="killed"):
        subject.take(text(SMS_TEXT, "900", T0))
    again = subject.take(text(SMS_TEXT, "900", T0 + timedelta(seconds=40)))
    assert again.status == notifications.EVIDENCE and again.fresh
    assert counts(store) == (1, 1, 0)
