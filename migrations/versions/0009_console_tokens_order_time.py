"""The console: bearer tokens for scripts, and the newest orders read through an index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "console_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_console_tokens_digest")),
    )
    # `orders list` and GET /api/v1/orders: the newest first, without sorting them all.
    op.create_index("ix_orders_created_at_id", "orders", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_orders_created_at_id", table_name="orders")
    op.drop_table("console_tokens")
