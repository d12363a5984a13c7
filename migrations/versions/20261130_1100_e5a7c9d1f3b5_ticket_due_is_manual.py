"""tickets.due_is_manual: a due time set by hand stays when the priority changes.

Revision ID: e5a7c9d1f3b5
Revises: d4f6b8c0e2a4
Create Date: 2026-11-30 11:00:00

Live-safe: a NOT NULL column with a constant default is catalogue-only on PostgreSQL 11+
(no rewrite, no scan: existing rows read the default); in place on SQLite.
"""

import sqlalchemy as sa
from alembic import op

revision = "e5a7c9d1f3b5"
down_revision = "d4f6b8c0e2a4"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "tickets",
        sa.Column("due_is_manual", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade():
    op.drop_column("tickets", "due_is_manual")
