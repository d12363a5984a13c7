"""mail_messages, mail_deliveries (the outbox) and worker_beats.

Revision ID: b4d6f8a0c2e3
Revises: a3c5e7f9b1d2
Create Date: 2026-11-30 02:00:00

New tables only: nothing existing is locked or rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "b4d6f8a0c2e3"
down_revision = "a3c5e7f9b1d2"
branch_labels = None
depends_on = None

STATES = "'queued', 'sending', 'retrying', 'sent', 'written', 'failed', 'cancelled'"


def upgrade():
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("in_reply_to", sa.String(255), nullable=True),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("to_addrs", sa.Text(), nullable=False),
        sa.Column("cc_addrs", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('reply', 'ack')", name=op.f("ck_mail_messages_mail_kind")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_mail_messages_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE",
                                name=op.f("fk_mail_messages_comment_id_comments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
        sa.UniqueConstraint("ticket_id", "message_id",
                            name=op.f("uq_mail_messages_ticket_id_message_id")),
    )  # fmt: skip
    op.create_index("ix_mail_messages_message_id", "mail_messages", ["message_id"])
    op.create_index("ix_mail_messages_comment_id", "mail_messages", ["comment_id"])
    op.create_table(
        "mail_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mail_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(f"state IN ({STATES})",
                           name=op.f("ck_mail_deliveries_delivery_state")),
        sa.ForeignKeyConstraint(["mail_id"], ["mail_messages.id"], ondelete="CASCADE",
                                name=op.f("fk_mail_deliveries_mail_id_mail_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_deliveries")),
    )  # fmt: skip
    op.create_index("ix_mail_deliveries_due", "mail_deliveries", ["state", "next_attempt_at"])
    op.create_index("ix_mail_deliveries_mail_id", "mail_deliveries", ["mail_id"])
    op.create_table(
        "worker_beats",
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("progress_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_worker_beats")),
    )


def downgrade():
    op.drop_table("worker_beats")
    op.drop_index("ix_mail_deliveries_mail_id", "mail_deliveries")
    op.drop_index("ix_mail_deliveries_due", "mail_deliveries")
    op.drop_table("mail_deliveries")
    op.drop_index("ix_mail_messages_comment_id", "mail_messages")
    op.drop_index("ix_mail_messages_message_id", "mail_messages")
    op.drop_table("mail_messages")
