"""report_snapshots: computed reports shared for SUPPORTDESK_REPORTS_MAX_AGE_S.

Revision ID: a1c3e5f7b9d2
Revises: f9b1d3e5a7c9
Create Date: 2026-11-30 07:00:00

A new table only: nothing existing is locked or rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "a1c3e5f7b9d2"
down_revision = "f9b1d3e5a7c9"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "report_snapshots",
        sa.Column("scope_key", sa.String(120), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compute_ms", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("scope_key", name=op.f("pk_report_snapshots")),
    )


def downgrade():
    op.drop_table("report_snapshots")
