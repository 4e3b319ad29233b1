"""Chat API per account, and the ad edit budget.

``accounts.chat_api`` remembers that Bybit closed per-order chat for an account.
``ad_edits`` records every price edit p2pilot made to an ad, so the 10-per-5-minutes
budget survives a restart.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("chat_api", sa.String(length=16), nullable=True))
    op.create_table(
        "ad_edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("ad_id", sa.String(length=64), nullable=False),
        sa.Column("price", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_ad_edits_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_edits")),
    )
    op.create_index(
        op.f("ix_ad_edits_account_id_ad_id_at"), "ad_edits", ["account_id", "ad_id", "at"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ad_edits_account_id_ad_id_at"), table_name="ad_edits")
    op.drop_table("ad_edits")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("chat_api")
