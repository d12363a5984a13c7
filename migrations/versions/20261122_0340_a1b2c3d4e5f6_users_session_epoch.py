"""users.session_epoch: end every session of a user at once.

Revision ID: a1b2c3d4e5f6
Revises: 9d4f2a6b1c37
Create Date: 2026-11-22 03:40:00

A constant default makes ADD COLUMN … NOT NULL instant on PostgreSQL 11+ (no rewrite).
"""

import sqlalchemy as sa
from alembic import op

revision = "a1b2c3d4e5f6"
down_revision = "9d4f2a6b1c37"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users", sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False)
    )


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of users would lose its
    # lower(email) expression index, which SQLite cannot reflect.
    op.execute("ALTER TABLE users DROP COLUMN session_epoch")
