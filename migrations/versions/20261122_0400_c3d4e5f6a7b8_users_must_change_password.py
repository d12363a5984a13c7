"""users.must_change_password: set by an admin's reset, cleared by the user's change.

Revision ID: c3d4e5f6a7b8
Revises: b7c8d9e0f1a2
Create Date: 2026-11-22 04:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c3d4e5f6a7b8"
down_revision = "b7c8d9e0f1a2"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users",
        sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade():
    # Plain DROP COLUMN: a batch rebuild of users would lose its lower(email) index.
    op.execute("ALTER TABLE users DROP COLUMN must_change_password")
