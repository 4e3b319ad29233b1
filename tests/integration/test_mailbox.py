"""Receipt mailboxes against a real Dovecot: body and PDF receipts, once, never deleted."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fpdf import FPDF
from pydantic import SecretStr
from sqlalchemy import func, select
from structlog.testing import capture_logs

from p2pilot.cli.status import mailbox_health
from p2pilot.config import Config, parse_config
from p2pilot.config.intake import MailboxConfig, load_templates
from p2pilot.evidence.mailbox import MailboxReader, retry_delays
from p2pilot.evidence.texts import TextIntake
from p2pilot.store import mailboxes, notifications
from p2pilot.store.accounts import ensure_account
from p2pilot.store.engine import Store
from p2pilot.store.models import NotificationRow, PaymentRow

from ..dovecot import PASSWORD, USER, Dovecot, dovecot, free_port, running_dovecot
from ..e2e.conftest import wait_for as shared_wait_for

__all__ = ["dovecot"]  # the fixture
T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
BANKS = ROOT / "config" / "templates" / "banks.toml"
SAMPLES = ROOT / "config" / "templates" / "samples"
SEEN = b"\\Seen"


def wait_for(predicate: Callable[[], T], timeout: float = 20.0) -> T:
    """The suite's poll-with-deadline, with the longer wait an IMAP round trip needs."""
    return shared_wait_for(predicate, timeout)  # type: ignore[no-any-return]


def receipt_mail(
    body: str, *, pdf: bytes | None = None, sender: str = "receipts@bank.example"
) -> bytes:
    message = EmailMessage()
    message["From"] = f"Bank <{sender}>"
    message["To"] = "desk@example.org"
    message["Subject"] = "Квитанция о переводе"
    message.set_content(body)
    if pdf is not None:
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="receipt.pdf")
    return bytes(message)


def pdf_receipt(lines: list[str]) -> bytes:
    document = FPDF()
    document.add_page()
    document.set_font("Helvetica", size=12)
    for line in lines:
        document.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())


def mailbox_config(server: Dovecot | None, port: int | None = None, **extra: Any) -> MailboxConfig:
    return MailboxConfig.model_validate(
        {
            "name": "receipts",
            "host": "127.0.0.1",
            "port": port or (server.port if server else 1),
            "security": "none",
            "user": USER,
            "password": SecretStr(PASSWORD),
            **extra,
        }
    )


@pytest.fixture
def intake(store: Store) -> TextIntake:
    with store.transaction() as session:
        ensure_account(session, "desk")
    templates = [t.compiled() for t in load_templates(BANKS)]
    return TextIntake(store, templates, clock=lambda: datetime.now(UTC))


def reader(config: MailboxConfig, intake: TextIntake, store: Store, **extra: Any) -> MailboxReader:
    return MailboxReader(
        config, intake=intake, store=store, clock=lambda: datetime.now(UTC), **extra
    )


def stored(store: Store) -> tuple[list[PaymentRow], int]:
    with store.transaction(read_only=True) as session:
        payments = list(session.scalars(select(PaymentRow).order_by(PaymentRow.id)))
        count = session.scalar(select(func.count()).select_from(NotificationRow)) or 0
        session.expunge_all()
        return payments, count


def test_body_and_pdf_receipts_are_read_once_and_marked_seen(
    dovecot: Dovecot, store: Store, intake: TextIntake
) -> None:
    body_uid = dovecot.deliver(receipt_mail((SAMPLES / "ru-receipt-sbp.txt").read_text("utf-8")))
    pdf = pdf_receipt((SAMPLES / "en-receipt.txt").read_text("utf-8").splitlines())
    pdf_uid = dovecot.deliver(receipt_mail("Your receipt is attached.", pdf=pdf))
    old = dovecot.deliver(receipt_mail("An old newsletter"), seen=True)  # read before p2pilot

    subject = reader(mailbox_config(dovecot), intake, store)
    assert subject.read_once() == 2
    payments, texts = stored(store)
    assert [(p.amount, p.currency, p.payer_name, p.reference) for p in payments] == [
        (pytest.approx(8145), "RUB", "Олег Иванович С.", "B6334140712345678"),
        (pytest.approx(8145), "RUB", "OLEG SMIRNOV", "TX-5531-0042"),
    ]
    assert all(str(p.amount) == "8145.00" for p in payments)  # exact, from the text
    assert [p.source for p in payments] == ["mail:receipts", "mail:receipts"]
    flags = dovecot.messages()
    assert set(flags) == {body_uid, pdf_uid, old}  # nothing deleted
    assert SEEN in flags[body_uid] and SEEN in flags[pdf_uid]

    # Again, and after a restart (a new reader): nothing is read twice.
    assert subject.read_once() == 0
    assert reader(mailbox_config(dovecot), intake, store).read_once() == 0
    assert [p.id for p in stored(store)[0]] == [p.id for p in payments]
    assert stored(store)[1] == texts == 2
    with store.transaction(read_only=True) as session:
        (state,) = mailboxes.all_mailboxes(session)
    assert state.last_uid == old and state.uidvalidity is not None  # history is skipped

    # Marked unread by hand: still not read twice (the UID is remembered).
    client = dovecot.client()
    client.select_folder("INBOX")
    client.remove_flags([body_uid], [SEEN])
    client.logout()
    assert reader(mailbox_config(dovecot), intake, store).read_once() == 0
    new_uid = dovecot.deliver(receipt_mail("Thank you for banking with us"))
    assert reader(mailbox_config(dovecot), intake, store).read_once() == 1
    with store.transaction(read_only=True) as session:
        (unread,) = notifications.unparsed(session)
    assert unread.channel == "mail" and unread.origin and unread.origin.endswith(f":{new_uid}")


def test_moving_instead_of_marking_and_never_deleting(
    dovecot: Dovecot, store: Store, intake: TextIntake
) -> None:
    dovecot.create_folder("Processed")
    dovecot.deliver(receipt_mail((SAMPLES / "ru-receipt-sbp.txt").read_text("utf-8")))
    config = mailbox_config(dovecot, after_read="move", move_to="Processed")
    assert reader(config, intake, store).read_once() == 1
    assert dovecot.messages("INBOX") == {}
    assert len(dovecot.messages("Processed")) == 1
    assert len(stored(store)[0]) == 1


def test_idle_wakes_the_reader_when_mail_arrives(
    dovecot: Dovecot, store: Store, intake: TextIntake
) -> None:
    # Polling alone would look again only in ten minutes: only IDLE can be this quick.
    subject = reader(mailbox_config(dovecot, poll="10m"), intake, store)
    subject.start()
    try:
        wait_for(lambda: _state(store) is not None and _state(store).last_success_at)  # type: ignore[union-attr]
        dovecot.deliver(receipt_mail((SAMPLES / "ru-receipt-sbp.txt").read_text("utf-8")))
        wait_for(lambda: len(stored(store)[0]) == 1)
    finally:
        subject.stop()


def status_config(db_url: str, port: int) -> Config:
    return parse_config(
        {
            "database": {"url": db_url},
            "accounts": [{"name": "desk", "api_key": "k", "api_secret": "s"}],
            "evidence": {
                "templates": [{"name": "r", "pattern": r"(?P<amount>\d+ RUB) (?P<payer>\w+)"}],
                "mailboxes": [
                    {
                        "name": "receipts",
                        "host": "127.0.0.1",
                        "port": port,
                        "security": "none",
                        "user": USER,
                        "password": PASSWORD,
                    }
                ],
            },
        }
    )


def _state(store: Store) -> mailboxes.MailboxState | None:
    with store.transaction(read_only=True) as session:
        found = mailboxes.all_mailboxes(session)
    return found[0] if found else None


def test_a_mailbox_that_is_down_is_retried_with_backoff_and_shown(
    store: Store, intake: TextIntake, db_url: str
) -> None:
    port = free_port()  # nothing listens here yet
    subject = reader(
        mailbox_config(None, port=port, poll="10m"), intake, store, backoff=(0.05, 0.2)
    )
    with capture_logs() as logs:
        subject.start()
        try:
            state = wait_for(lambda: (s := _state(store)) is not None and s.failures >= 3 and s)
            assert state and state.last_error and "Connection refused" in state.last_error
            assert state.last_success_at is None
            (shown,) = mailbox_health(status_config(db_url, port), datetime.now(UTC))
            assert shown.stale and shown.consecutive_failures >= 3
            assert (
                shown.to_json()["job"] == "receipts" and "refused" in shown.to_json()["last_error"]
            )
            with running_dovecot(port) as server:
                server.deliver(receipt_mail((SAMPLES / "ru-receipt-sbp.txt").read_text("utf-8")))
                wait_for(lambda: len(stored(store)[0]) == 1)
                recovered = wait_for(
                    lambda: (s := _state(store)) is not None and s.failures == 0 and s
                )
                assert recovered and recovered.last_success_at is not None
        finally:
            subject.stop()
    failures = [e for e in logs if e["event"] == "mailbox.failed"]
    assert failures and all(e["mailbox"] == "receipts" for e in failures)
    assert retry_delays(2, 300, 10) == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_the_mailbox_password_never_reaches_a_log_or_the_database(
    dovecot: Dovecot, store: Store, intake: TextIntake
) -> None:
    config = mailbox_config(dovecot).model_copy(update={"password": SecretStr("wrong-" + PASSWORD)})
    subject = reader(config, intake, store, backoff=(0.05, 0.1))
    with capture_logs() as logs:
        subject.start()
        try:
            wait_for(lambda: (s := _state(store)) is not None and s.failures >= 2)
        finally:
            subject.stop()
    state = _state(store)
    assert (
        state is not None
        and state.last_error
        and "AUTHENTICATIONFAILED" in state.last_error.upper()
    )
    assert PASSWORD not in repr(logs) and PASSWORD not in repr(state)
    assert PASSWORD not in dovecot.log.read_text()
