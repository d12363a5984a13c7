"""Indexes for the reports page: resolutions by date, open tickets by assignee.

Revision ID: e5f6a7b8c9d0
Revises: d4e5f6a7b8c9
Create Date: 2026-11-22 06:00:00

At 1M tickets the reports page took 2.8 s, most of it scanning tickets for resolution
dates (first replies: see the next revision). Each index holds every column its query
reads, so PostgreSQL answers from the index alone. Built CONCURRENTLY on PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "e5f6a7b8c9d0"
down_revision = "d4e5f6a7b8c9"
branch_labels = None
depends_on = None

INDEXES = [
    ("ix_tickets_live_resolved", "tickets", ["resolved_at", "created_at", "assignee_id"],
     "deleted_at IS NULL AND resolved_at IS NOT NULL"),
    ("ix_tickets_live_status_assignee", "tickets", ["status", "assignee_id"],
     "deleted_at IS NULL"),
]  # fmt: skip


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, columns, where in INDEXES:
        if postgresql:
            with op.get_context().autocommit_block():
                op.create_index(name, table, columns, postgresql_where=sa.text(where),
                                postgresql_concurrently=True, if_not_exists=True)  # fmt: skip
        else:
            op.create_index(name, table, columns, sqlite_where=sa.text(where))


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, _, _ in reversed(INDEXES):
        if postgresql:
            with op.get_context().autocommit_block():
                op.drop_index(name, table, postgresql_concurrently=True, if_exists=True)
        else:
            op.drop_index(name, table)
