"""Index orders for the chat job: by last write (recently finished) and by counterparty.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_account_id_updated_at", "orders", ["account_id", "updated_at"], unique=False
    )
    op.create_index(
        "ix_orders_account_id_counterparty_mask_id",
        "orders",
        ["account_id", "counterparty_mask_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_orders_account_id_counterparty_mask_id", table_name="orders")
    op.drop_index("ix_orders_account_id_updated_at", table_name="orders")
