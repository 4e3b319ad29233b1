"""A receipt mailbox, read over IMAP: each new message's body and PDFs go through the templates.

One thread per ``[[evidence.mailboxes]]`` entry. It waits with IMAP IDLE where
the server offers it (checking again every ``poll`` anyway), and polls every
``poll`` where not. Messages are found by UID: the reader stores the folder's
UIDVALIDITY and the highest UID it took, so a restart reads nothing twice, and
each message is also recorded under its (mailbox, UIDVALIDITY, UID) so a crash
between taking a message and storing the position does not take it twice
either. Mail is never deleted: a message taken is marked seen, or moved, as
configured. A mailbox that cannot be reached is retried with exponential
backoff; its last error and failure count are stored for ``p2pilot status``.

The library is imapclient: maintained, typed results (UIDs as ints, flags as
bytes, INTERNALDATE as datetimes), IDLE and MOVE support, on top of the
standard library's imaplib.
"""

from __future__ import annotations

import contextlib
import random
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from pydantic import SecretStr

from p2pilot.evidence.mail_text import internal_date, mail_text
from p2pilot.evidence.texts import BankText, TextIntake
from p2pilot.logging import get_logger
from p2pilot.store import mailboxes
from p2pilot.store.engine import Store

log = get_logger(__name__)

FETCH_BATCH = 20
IDLE_SLICE = 1.0  # seconds per IDLE wait, so a stop is noticed promptly
SEEN = b"\\Seen"
# Everything a dead or refusing server raises through imapclient and imaplib.
MAIL_ERRORS: tuple[type[BaseException], ...] = (
    IMAPClientError,
    OSError,  # refused, reset, timed out, TLS errors (ssl.SSLError is an OSError)
    EOFError,
)


class MailboxSettings(Protocol):
    """One ``[[evidence.mailboxes]]`` entry, as the reader uses it (the config's MailboxConfig)."""

    @property
    def name(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def security(self) -> str: ...  # "tls", "starttls" or "none" (loopback only)
    @property
    def user(self) -> str: ...
    @property
    def password(self) -> SecretStr: ...
    @property
    def folder(self) -> str: ...
    @property
    def templates(self) -> Sequence[str]: ...  # empty: every template
    @property
    def after_read(self) -> str: ...  # "seen" or "move"
    @property
    def move_to(self) -> str | None: ...
    @property
    def poll(self) -> timedelta: ...
    @property
    def idle(self) -> bool: ...
    @property
    def account(self) -> str | None: ...


class MailboxReader:
    """Reads one mailbox in a background thread until stopped."""

    def __init__(
        self,
        config: MailboxSettings,
        *,
        intake: TextIntake,
        store: Store,
        clock: Callable[[], datetime],
        timeout: float = 30.0,
        backoff: tuple[float, float] = (2.0, 300.0),
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._config = config
        self._intake = intake
        self._store = store
        self._clock = clock
        self._timeout = timeout
        self._backoff = backoff
        self._ssl_context = ssl_context
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._password = config.password.get_secret_value()
        self._uidvalidity = 0  # of the selected folder, read when it is selected

    @property
    def name(self) -> str:
        return self._config.name

    def start(self) -> None:
        """Start reading in a daemon thread."""
        self._thread = threading.Thread(target=self._run, name=f"mailbox-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the reader to stop and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def read_once(self) -> int:
        """Connect, take every new message, disconnect; the number taken. Raises on failure."""
        client = self._connect()
        try:
            return self._read_new(client)
        finally:
            _logout(client)

    # -- the loop ---------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                client = self._connect()
            except MAIL_ERRORS as exc:
                failures = self._failed(exc)
                self._stop.wait(self._delay(failures))
                continue
            try:
                self._succeeded()
                failures = 0
                self._serve(client)
            except MAIL_ERRORS as exc:
                failures = self._failed(exc)
                self._stop.wait(self._delay(failures))
            finally:
                _logout(client)

    def _serve(self, client: IMAPClient) -> None:
        idle = self._config.idle and client.has_capability("IDLE")
        log.info("mailbox.connected", mailbox=self.name, idle=idle)
        while not self._stop.is_set():
            self._read_new(client)
            self._succeeded()
            if idle:
                self._wait_idle(client)
            else:
                self._stop.wait(self._config.poll.total_seconds())
                client.noop()

    def _wait_idle(self, client: IMAPClient) -> None:
        client.idle()
        try:
            deadline = self._clock() + self._config.poll
            while not self._stop.is_set() and self._clock() < deadline:
                responses = client.idle_check(timeout=IDLE_SLICE)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    break
        finally:
            client.idle_done()

    def _delay(self, failures: int) -> float:
        delay = retry_delays(*self._backoff, failures)[-1]
        return delay * random.uniform(0.8, 1.0)  # jitter: mailboxes of one host spread out

    # -- one pass ---------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        config = self._config
        context = self._ssl_context or ssl.create_default_context()
        client = IMAPClient(
            config.host,
            port=config.port,
            ssl=config.security == "tls",
            ssl_context=context if config.security == "tls" else None,
            timeout=self._timeout,
        )
        try:
            client.normalise_times = False  # INTERNALDATE with its zone, not local naive
            if config.security == "starttls":
                client.starttls(context)
            client.login(config.user, self._password)
            selected = client.select_folder(config.folder)
            self._uidvalidity = int(selected[b"UIDVALIDITY"])
        except BaseException:
            _logout(client)
            raise
        return client

    def _read_new(self, client: IMAPClient) -> int:
        uidvalidity = self._uidvalidity
        with self._store.transaction() as session:
            state = mailboxes.position(session, self.name, at=self._clock())
        if state.uidvalidity == uidvalidity:
            found = client.search(["UID", f"{state.last_uid + 1}:*"])
            # "n:*" also names the last message when it is below n: not new.
            return self._take_all(client, sorted(u for u in found if u > state.last_uid), True)
        if state.uidvalidity is not None:
            # The server renumbered the folder: old UIDs mean nothing now.
            log.warning(
                "mailbox.uidvalidity_changed",
                mailbox=self.name,
                was=state.uidvalidity,
                now=uidvalidity,
            )
        # First read (or renumbered): what is still unread is new, the rest is the
        # merchant's history. The position is stored only at the end: a crash before
        # it repeats this pass, and the messages already taken are known by origin.
        present = client.search(["ALL"])
        unread = present if self._config.after_read == "move" else client.search(["UNSEEN"])
        taken = self._take_all(client, sorted(unread), False)
        with self._store.transaction() as session:
            mailboxes.advance(
                session,
                self.name,
                uidvalidity=uidvalidity,
                last_uid=max([0, *present, *unread]),
                at=self._clock(),
            )
        return taken

    def _take_all(self, client: IMAPClient, uids: list[int], advance: bool) -> int:
        taken = 0
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start : start + FETCH_BATCH]
            fetched = client.fetch(batch, [b"BODY.PEEK[]", b"INTERNALDATE"])
            for uid in batch:
                item = fetched.get(uid)
                if item is None:
                    continue  # expunged meanwhile
                self._take(uid, self._uidvalidity, item)
                self._after_read(client, uid)
                if advance:
                    with self._store.transaction() as session:
                        mailboxes.advance(
                            session,
                            self.name,
                            uidvalidity=self._uidvalidity,
                            last_uid=uid,
                            at=self._clock(),
                        )
                taken += 1
        return taken

    def _take(self, uid: int, uidvalidity: int, item: dict[bytes, Any]) -> None:
        raw = item.get(b"BODY[]")
        if not isinstance(raw, bytes):
            return
        mail = mail_text(raw)
        received = internal_date(item.get(b"INTERNALDATE")) or self._clock()
        outcome = self._intake.take(
            BankText(
                channel="mail",
                source=self.name,
                text=mail.text or mail.subject or "(an empty message)",
                sender=mail.sender,
                received_at=received,
                origin=f"imap:{self.name}:{uidvalidity}:{uid}",
                account=self._config.account,
            ),
            templates=self._config.templates or None,
        )
        log.info(
            "mailbox.message",
            mailbox=self.name,
            uid=uid,
            pdfs=mail.pdfs,
            status=outcome.status,
            notification_id=outcome.notification_id,
            order_id=outcome.order_id,
            fresh=outcome.fresh,
        )

    def _after_read(self, client: IMAPClient, uid: int) -> None:
        target = self._config.move_to
        if self._config.after_read == "move" and target:
            if client.has_capability("MOVE"):
                client.move([uid], target)
                return
            # Without MOVE a move is copy + delete: we never delete, so copy and mark seen.
            client.copy([uid], target)
        client.add_flags([uid], [SEEN])

    # -- health -----------------------------------------------------------------------

    def _succeeded(self) -> None:
        with self._store.transaction() as session:
            mailboxes.succeeded(session, self.name, at=self._clock())

    def _failed(self, exc: BaseException) -> int:
        error = self._describe(exc)
        with self._store.transaction() as session:
            failures = mailboxes.failed(session, self.name, error=error, at=self._clock())
        log.warning("mailbox.failed", mailbox=self.name, error=error, failures=failures)
        return failures

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}"
        # A server may echo what it was sent; the password never goes further.
        return text.replace(self._password, "***") if self._password else text


def _logout(client: IMAPClient) -> None:
    try:
        client.logout()
    except MAIL_ERRORS:
        with contextlib.suppress(*MAIL_ERRORS):
            client.shutdown()


def retry_delays(first: float, longest: float, count: int) -> list[float]:
    """The backoff delays (without jitter) after 1..count failures in a row."""
    return [min(longest, first * 2 ** min(n - 1, 20)) for n in range(1, count + 1)]
