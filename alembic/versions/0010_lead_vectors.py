"""article vectors gain the embedding of the headline with its lead

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

The kept vectors are a cache: dropping them makes the next build embed its window's articles
again, both ways, instead of judging some pairs with their leads and others without.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM article_vectors")
    op.add_column("article_vectors", sa.Column("lead_vector", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("article_vectors") as batch:
        batch.drop_column("lead_vector")
