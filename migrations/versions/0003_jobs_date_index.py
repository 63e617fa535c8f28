"""Drop ``ix_jobs_date``: ``ix_jobs_date_status`` starts with the same column and serves
every query by date, and each index on ``jobs`` is one more entry to write on every
status change (the busiest write of the API).

Revision ID: 0003_jobs_date_index
Revises: 0002_fieldwork_stock
Create Date: 2026-11-26 15:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003_jobs_date_index"
down_revision: str | None = "0002_fieldwork_stock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_jobs_date", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_date", "jobs", ["date"], unique=False)
