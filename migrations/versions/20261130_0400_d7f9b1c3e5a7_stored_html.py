"""Rendered HTML stored with its text: tickets.description_html, comments.body_html.

Revision ID: d7f9b1c3e5a7
Revises: c6e8a0b2d4f6
Create Date: 2026-11-30 04:00:00

Live-safe: four nullable columns, catalogue-only on PostgreSQL, in place on SQLite. Rows
written before stay NULL and are rendered at view time, as before, until `flask render
refresh` stores their HTML (batched, resumable, while the desk runs).
"""

import sqlalchemy as sa
from alembic import op

revision = "d7f9b1c3e5a7"
down_revision = "c6e8a0b2d4f6"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("tickets", sa.Column("description_html", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("html_version", sa.SmallInteger(), nullable=True))
    op.add_column("comments", sa.Column("body_html", sa.Text(), nullable=True))
    op.add_column("comments", sa.Column("html_version", sa.SmallInteger(), nullable=True))


def downgrade():
    op.drop_column("comments", "html_version")
    op.drop_column("comments", "body_html")
    op.drop_column("tickets", "html_version")
    op.drop_column("tickets", "description_html")
