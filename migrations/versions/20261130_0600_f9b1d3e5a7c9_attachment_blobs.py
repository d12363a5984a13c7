"""attachment_blobs: attachments stored in the database (SUPPORTDESK_ATTACHMENT_STORAGE).

Revision ID: f9b1d3e5a7c9
Revises: e8a0c2d4f6b8
Create Date: 2026-11-30 06:00:00

A new table only: nothing existing is locked or rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "f9b1d3e5a7c9"
down_revision = "e8a0c2d4f6b8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "attachment_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("chunk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "chunk", name=op.f("pk_attachment_blobs")),
    )


def downgrade():
    op.drop_table("attachment_blobs")
