"""Why unbound evidence is held, and the desk's blacklist.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("hold_reason", sa.String(length=32), nullable=True))
    op.create_index(
        "ix_payments_currency_received_at", "payments", ["currency", "received_at"], unique=False
    )
    op.create_table(
        "blacklist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blacklist")),
        sa.UniqueConstraint("kind", "value", name=op.f("uq_blacklist_kind_value")),
    )


def downgrade() -> None:
    op.drop_table("blacklist")
    op.drop_index("ix_payments_currency_received_at", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("hold_reason")
