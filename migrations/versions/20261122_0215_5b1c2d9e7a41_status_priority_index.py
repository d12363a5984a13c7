"""Index live tickets by status and priority together.

Revision ID: 5b1c2d9e7a41
Revises: 33e82c0b7fe4
Create Date: 2026-11-22 02:15:00

Filtering by status and priority (the "urgent open tickets" views) scanned every open
ticket's heap row to check its priority: 166 ms for one page at 1M tickets, 32 ms with
this index. Built CONCURRENTLY on PostgreSQL.
"""

import sqlalchemy as sa
from alembic import op

revision = "5b1c2d9e7a41"
down_revision = "33e82c0b7fe4"
branch_labels = None
depends_on = None

NAME = "ix_tickets_live_status_priority"
COLUMNS = ["status", "priority", "created_at", "id"]
LIVE = sa.text("deleted_at IS NULL")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                NAME,
                "tickets",
                COLUMNS,
                postgresql_where=LIVE,
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index(NAME, "tickets", COLUMNS, sqlite_where=LIVE)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, "tickets", postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(NAME, "tickets")
