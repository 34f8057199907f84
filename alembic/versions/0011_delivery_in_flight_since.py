"""when a sender began handing each delivery to the server: in-flight messages are known

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Set right before the SMTP transaction and cleared with the outcome, so a row taken over from a
sender that died on it is known to be one the server may already have.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("in_flight_since", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("in_flight_since")
