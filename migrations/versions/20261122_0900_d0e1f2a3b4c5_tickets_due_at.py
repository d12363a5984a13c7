"""tickets.due_at (1 of 3): add the SLA due time, nullable.

Revision ID: d0e1f2a3b4c5
Revises: c9d0e1f2a3b4
Create Date: 2026-11-22 09:00:00

A nullable column without a default: PostgreSQL only updates its catalogue (no rewrite,
a brief lock). From this revision on the app stamps due_at on every new ticket and on
every priority change; the next revision (or `flask backfill due-at`) fills older ones,
the one after makes it NOT NULL.
"""

import sqlalchemy as sa
from alembic import op

revision = "d0e1f2a3b4c5"
down_revision = "c9d0e1f2a3b4"
branch_labels = None
depends_on = None


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    column = sa.Column("due_at", sa.DateTime(timezone=True), nullable=True)
    # Plain ADD COLUMN on SQLite too (a batch copy would drop the full-text triggers).
    op.add_column("tickets", column, if_not_exists=postgresql or None)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_column("tickets", "due_at")
    else:
        op.execute("ALTER TABLE tickets DROP COLUMN due_at")
