"""delivery leases retries and reasons

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMPS = ("lease_expires_at", "next_attempt_at", "first_attempt_at")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        # Existing rows start with no ambiguous or local failures.
        for counter in ("ambiguous_count", "local_failures"):
            batch_op.add_column(
                sa.Column(counter, sa.Integer(), nullable=False, server_default="0")
            )
        batch_op.add_column(sa.Column("smtp_code", sa.Integer(), nullable=True))
        batch_op.alter_column("last_error", new_column_name="reason")
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=200), nullable=True))
        for column in TIMESTAMPS:
            batch_op.add_column(sa.Column(column, sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index(batch_op.f("ix_deliveries_status"))
        batch_op.create_index(
            "ix_deliveries_edition_status", ["edition_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_edition_status")
        batch_op.create_index(batch_op.f("ix_deliveries_status"), ["status"], unique=False)
        for column in (
            *TIMESTAMPS,
            "lease_owner",
            "smtp_code",
            "local_failures",
            "ambiguous_count",
        ):
            batch_op.drop_column(column)
        batch_op.alter_column("reason", new_column_name="last_error")
