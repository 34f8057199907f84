"""headline vectors embed what a headline reports, without its opening label

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

The kept vectors were embedded from whole headlines. They are a cache: dropping them makes the
next build embed its window's headlines again, the new way, instead of mixing the two.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM article_vectors")


def downgrade() -> None:
    op.execute("DELETE FROM article_vectors")
