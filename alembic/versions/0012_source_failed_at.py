"""sources record when their last fetch failed, apart from when they were last read

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07

Until now a failure overwrote `last_fetched_at` (and the source's title with its key), so a
failing feed could not be told from one read fine with a note, nor when it last worked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sources") as batch:
        batch.drop_column("failed_at")
