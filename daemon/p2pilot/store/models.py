"""The database schema: one class per table (``...Row``, to keep them apart from the
exchange records of the same names).

Migrations in ``migrations/versions`` create exactly this schema; a test compares
them with Alembic's autogenerate on both backends, so a change here needs a new
migration.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from p2pilot.store.types import ExactDecimal, UtcDateTime

# Every constraint and index gets a predictable name, so later migrations (and
# SQLite batch mode, which rebuilds tables) can address them by name.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)  # exchange ids: numeric strings, 19 digits today
NAME = String(200)
CODE = String(16)  # token and currency codes


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Decimal: ExactDecimal(),
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class AccountRow(Base):
    """One configured exchange account; ``name`` is the config's account name."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    user_id: Mapped[str | None] = mapped_column(ID)
    nickname: Mapped[str | None] = mapped_column(NAME)
    # "session" once Bybit answered 912200387 on the per-order chat: for good.
    chat_api: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]


class OrderRow(Base):
    """The latest known snapshot of one exchange order."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "exchange_id"),
        Index("ix_orders_account_id_status", "account_id", "status"),
        # The chat job's "finished lately", and its session chat's "every order with
        # this counterparty": without them, every order ever stored is read.
        Index("ix_orders_account_id_updated_at", "account_id", "updated_at"),
        Index("ix_orders_account_id_counterparty_mask_id", "account_id", "counterparty_mask_id"),
        Index("ix_orders_created_at_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    exchange_id: Mapped[str] = mapped_column(ID)
    side: Mapped[int]
    status: Mapped[int]
    token: Mapped[str] = mapped_column(CODE)
    currency: Mapped[str] = mapped_column(CODE)
    amount: Mapped[Decimal]
    price: Mapped[Decimal]
    quantity: Mapped[Decimal | None]
    counterparty_nickname: Mapped[str | None] = mapped_column(NAME)
    counterparty_user_id: Mapped[str | None] = mapped_column(ID)
    counterparty_mask_id: Mapped[str | None] = mapped_column(ID)
    counterparty_real_name: Mapped[str | None] = mapped_column(NAME)  # KYC name, for evidence
    item_id: Mapped[str | None] = mapped_column(ID)
    payment_type: Mapped[int | None]
    created_at: Mapped[datetime]  # the exchange's creation time
    paid_at: Mapped[datetime | None]
    exchange_updated_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]  # our last write
    has_detail: Mapped[bool] = mapped_column(Boolean)
    raw: Mapped[dict[str, Any]]


class OrderEventRow(Base):
    """The outbox: one row per change, handled in id order."""

    __tablename__ = "order_events"
    __table_args__ = (
        Index("ix_order_events_handled_at_id", "handled_at", "id"),
        Index("ix_order_events_order_id", "order_id"),
        # AUTOINCREMENT: SQLite must never reuse an id, even after rows are pruned.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]


class ChatMessageRow(Base):
    """One chat message, from either chat API."""

    __tablename__ = "chat_messages"
    __table_args__ = (
        UniqueConstraint("account_id", "message_id"),
        Index("ix_chat_messages_account_id_order_id", "account_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    order_id: Mapped[str | None] = mapped_column(ID)  # the exchange's order id
    message_id: Mapped[str] = mapped_column(ID)
    sender_user_id: Mapped[str | None] = mapped_column(ID)
    sender_nickname: Mapped[str | None] = mapped_column(NAME)
    text: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(32))
    msg_type: Mapped[int]
    role: Mapped[str] = mapped_column(String(32))
    msg_uuid: Mapped[str | None] = mapped_column(ID)
    api: Mapped[str] = mapped_column(CODE)
    created_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]]


class RateRow(Base):
    """One observation of the market price for a token/currency/side."""

    __tablename__ = "rates"
    __table_args__ = (
        Index(
            "ix_rates_token_currency_side_observed_at", "token", "currency", "side", "observed_at"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(CODE)
    currency: Mapped[str] = mapped_column(CODE)
    side: Mapped[int]
    best_price: Mapped[Decimal]
    reference_price: Mapped[Decimal | None]
    sample_size: Mapped[int]
    observed_at: Mapped[datetime]


class AdRow(Base):
    """The latest known snapshot of one of our ads."""

    __tablename__ = "ads"
    __table_args__ = (UniqueConstraint("account_id", "ad_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    ad_id: Mapped[str] = mapped_column(ID)
    side: Mapped[int]
    token: Mapped[str] = mapped_column(CODE)
    currency: Mapped[str] = mapped_column(CODE)
    price: Mapped[Decimal]
    status: Mapped[int]
    quantity: Mapped[Decimal]
    last_quantity: Mapped[Decimal]
    min_amount: Mapped[Decimal]
    max_amount: Mapped[Decimal]
    updated_at: Mapped[datetime]
    raw: Mapped[dict[str, Any]]


class AdEditRow(Base):
    """One price edit p2pilot made to an ad: the stored budget of 10 per 5 minutes."""

    __tablename__ = "ad_edits"
    __table_args__ = (Index("ix_ad_edits_account_id_ad_id_at", "account_id", "ad_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    ad_id: Mapped[str] = mapped_column(ID)
    price: Mapped[Decimal]
    at: Mapped[datetime]


class AccountLeaseRow(Base):
    """Which daemon holds an account (PostgreSQL), until when in database time."""

    __tablename__ = "account_leases"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class FleetMemberRow(Base):
    """A running daemon of a fleet sharing one PostgreSQL, until when in database time.

    The accounts are spread evenly over the members whose row has not expired.
    """

    __tablename__ = "fleet_members"

    holder: Mapped[str] = mapped_column(String(200), primary_key=True)
    joined_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class PollStateRow(Base):
    """Health and progress of one poll job on one account."""

    __tablename__ = "poll_state"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    job: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_sweep_at: Mapped[datetime | None]
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class ActionRow(Base):
    """The actions ledger: one row per (event, rule, action), written before the side effect.

    ``key`` is the idempotency key; its unique constraint is what makes a second
    attempt after a crash find the first instead of acting again.
    """

    __tablename__ = "actions"
    __table_args__ = (
        Index("ix_actions_state", "state"),
        Index("ix_actions_order_id", "order_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("order_events.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"))
    rule: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReleaseRow(Base):
    """At most one release per order, whatever rule or event asks: the last line of defence."""

    __tablename__ = "releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(CODE)
    counterparty_user_id: Mapped[str | None] = mapped_column(ID)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentRow(Base):
    """Payment evidence: fiat that really arrived, reported by the operator or a bank hook."""

    __tablename__ = "payments"
    # Unbound evidence by currency and time: what a new order or payment is compared with.
    __table_args__ = (Index("ix_payments_currency_received_at", "currency", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(CODE)
    payer_name: Mapped[str] = mapped_column(NAME)
    reference: Mapped[str] = mapped_column(String(200), unique=True)
    received_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(32))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    matched_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    # Why unbound evidence is held (evidence.binding.HoldReason); None once bound.
    hold_reason: Mapped[str | None] = mapped_column(String(32))


class BlacklistRow(Base):
    """Buyers the desk never releases to automatically: by uid, nickname or KYC name."""

    __tablename__ = "blacklist"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # uid | nickname | name
    value: Mapped[str] = mapped_column(NAME)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class NotificationRow(Base):
    """A bank text as it arrived (an SMS or push forwarded by a phone, a receipt mail).

    Kept whatever became of it: the evidence it turned into, the earlier report
    of the same transfer it repeats, or unparsed, waiting for the operator.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_digest_received_at", "digest", "received_at"),
        Index("ix_notifications_status_received_at", "status", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(100))  # the source's or the mailbox's name
    channel: Mapped[str] = mapped_column(String(16))  # "notification" or "mail"
    # Where exactly it came from, when that is known and unique (a mailbox message).
    origin: Mapped[str | None] = mapped_column(String(200), unique=True)
    sender: Mapped[str | None] = mapped_column(NAME)
    text: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(64))  # of the text, to know a retry
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(String(100))
    amount: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(CODE)
    payer_name: Mapped[str | None] = mapped_column(NAME)
    reference: Mapped[str | None] = mapped_column(String(200))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class MailboxRow(Base):
    """Where the reader of one receipt mailbox is, and how its last tries went."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # IMAP's UIDVALIDITY and the highest UID read under it: a restart reads from there.
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class AuditRow(Base):
    """One use of an operator command, allowed or refused: who, from where, what came of it.

    ``account`` and ``order_id`` are the names the operator gave (the account's
    name, the exchange's order id), kept as text: a refused command may name
    something that does not exist.
    """

    __tablename__ = "audit"
    __table_args__ = (Index("ix_audit_order_id", "order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime]
    operator: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))  # cli | console | telegram
    command: Mapped[str] = mapped_column(String(32))
    account: Mapped[str | None] = mapped_column(String(100))
    order_id: Mapped[str | None] = mapped_column(ID)
    outcome: Mapped[str] = mapped_column(String(16))  # ok | refused
    detail: Mapped[str] = mapped_column(Text)


class AccountPauseRow(Base):
    """An account an operator paused: no release from it until resumed (row deleted)."""

    __tablename__ = "account_pauses"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    operator: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime]


class ReleaseApprovalRow(Base):
    """An operator's word on one order's release: ``approve`` or ``hold``.

    ``amount`` is the order's amount the operator saw; ``revoked_at`` is set when
    a hold is lifted, and on approvals a later hold voided.
    """

    __tablename__ = "release_approvals"
    __table_args__ = (Index("ix_release_approvals_order_id", "order_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | hold
    operator: Mapped[str] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[Decimal]
    at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class ConsoleTokenRow(Base):
    """A bearer token for the console's API; only its SHA-256 digest is stored."""

    __tablename__ = "console_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    operator: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


class ConsoleLogoutRow(Base):
    """A console session ended by its operator: its cookie is refused until it would expire."""

    __tablename__ = "console_logouts"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime]


class TelegramBotRow(Base):
    """Where the Telegram bot is in the outbox and in Telegram's updates, and its health."""

    __tablename__ = "telegram_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The last outbox event id alerted (or skipped): a restart goes on after it.
    event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    # getUpdates' offset: updates below it were handled and are never read again.
    update_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class TelegramMessageRow(Base):
    """The one message per subject (an order, or one event) and chat, edited in place."""

    __tablename__ = "telegram_messages"
    __table_args__ = (UniqueConstraint("subject", "chat_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(100))  # "order:PK" or "event:ID"
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column(BigInteger)  # the event it shows now
    updated_at: Mapped[datetime]
