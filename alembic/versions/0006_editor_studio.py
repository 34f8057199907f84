"""editor studio: approval, positions, and the record of editors' actions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("approved_by", sa.String(length=200), nullable=True))
    with op.batch_alter_table("edition_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("position", sa.Integer(), nullable=True))
    op.create_table(
        "edition_events",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_edition_events")),
    )
    op.create_index("ix_edition_events_name_day", "edition_events", ["name", "day"])


def downgrade() -> None:
    op.drop_index("ix_edition_events_name_day", table_name="edition_events")
    op.drop_table("edition_events")
    with op.batch_alter_table("edition_overrides", schema=None) as batch_op:
        batch_op.drop_column("position")
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.drop_column("approved_by")
        batch_op.drop_column("approved_at")
