"""users.time_zone: each staff member's own time zone for the times the pages show.

Revision ID: d4f6b8c0e2a4
Revises: c3e5a7b9d1f3
Create Date: 2026-11-30 10:00:00

Live-safe: one nullable column (catalogue-only on PostgreSQL, in place on SQLite).
"""

import sqlalchemy as sa
from alembic import op

revision = "d4f6b8c0e2a4"
down_revision = "c3e5a7b9d1f3"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("time_zone", sa.String(64), nullable=True))


def downgrade():
    op.drop_column("users", "time_zone")
