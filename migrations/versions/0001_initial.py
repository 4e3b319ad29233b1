"""Initial schema: accounts, orders, the order_events outbox, chat, rates, ads, poll state.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The database types behind p2pilot.store.types: money is exact decimal text,
# times are timestamps with time zone. Spelled out here so this file never
# changes when the Python types do.
MONEY = sa.String(length=64)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("nickname", sa.String(length=200), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("best_price", MONEY, nullable=False),
        sa.Column("reference_price", MONEY, nullable=True),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("observed_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rates")),
    )
    op.create_index(
        "ix_rates_token_currency_side_observed_at",
        "rates",
        ["token", "currency", "side", "observed_at"],
        unique=False,
    )
    op.create_table(
        "ads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ad_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("quantity", MONEY, nullable=False),
        sa.Column("last_quantity", MONEY, nullable=False),
        sa.Column("min_amount", MONEY, nullable=False),
        sa.Column("max_amount", MONEY, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ads_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ads")),
        sa.UniqueConstraint("account_id", "ad_id", name=op.f("uq_ads_account_id_ad_id")),
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("sender_user_id", sa.String(length=64), nullable=True),
        sa.Column("sender_nickname", sa.String(length=200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("msg_type", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("msg_uuid", sa.String(length=64), nullable=True),
        sa.Column("api", sa.String(length=16), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_chat_messages_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint(
            "account_id", "message_id", name=op.f("uq_chat_messages_account_id_message_id")
        ),
    )
    op.create_index(
        "ix_chat_messages_account_id_order_id",
        "chat_messages",
        ["account_id", "order_id"],
        unique=False,
    )
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.String(length=64), nullable=False),
        sa.Column("side", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("price", MONEY, nullable=False),
        sa.Column("quantity", MONEY, nullable=True),
        sa.Column("counterparty_nickname", sa.String(length=200), nullable=True),
        sa.Column("counterparty_user_id", sa.String(length=64), nullable=True),
        sa.Column("counterparty_mask_id", sa.String(length=64), nullable=True),
        sa.Column("counterparty_real_name", sa.String(length=200), nullable=True),
        sa.Column("item_id", sa.String(length=64), nullable=True),
        sa.Column("payment_type", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("paid_at", TIMESTAMP, nullable=True),
        sa.Column("exchange_updated_at", TIMESTAMP, nullable=True),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("has_detail", sa.Boolean(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_orders_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "account_id", "exchange_id", name=op.f("uq_orders_account_id_exchange_id")
        ),
    )
    op.create_index("ix_orders_account_id_status", "orders", ["account_id", "status"], unique=False)
    op.create_table(
        "poll_state",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("last_success_at", TIMESTAMP, nullable=True),
        sa.Column("last_error_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_sweep_at", TIMESTAMP, nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_poll_state_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "job", name=op.f("pk_poll_state")),
    )
    op.create_table(
        "order_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("handled_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_order_events_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_events_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_events")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_order_events_handled_at_id", "order_events", ["handled_at", "id"], unique=False
    )
    op.create_index("ix_order_events_order_id", "order_events", ["order_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_order_events_order_id", table_name="order_events")
    op.drop_index("ix_order_events_handled_at_id", table_name="order_events")
    op.drop_table("order_events")
    op.drop_table("poll_state")
    op.drop_index("ix_orders_account_id_status", table_name="orders")
    op.drop_table("orders")
    op.drop_index("ix_chat_messages_account_id_order_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_table("ads")
    op.drop_index("ix_rates_token_currency_side_observed_at", table_name="rates")
    op.drop_table("rates")
    op.drop_table("accounts")
