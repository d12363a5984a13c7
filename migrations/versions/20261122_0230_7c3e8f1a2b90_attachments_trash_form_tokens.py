"""Attachments, who deleted a ticket, and one-time form tokens.

Revision ID: 7c3e8f1a2b90
Revises: 5b1c2d9e7a41
Create Date: 2026-11-22 02:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "7c3e8f1a2b90"
down_revision = "5b1c2d9e7a41"
branch_labels = None
depends_on = None

SQUAWK_WAIVERS = {
    "prefer-robust-stmts": "ADD CONSTRAINT runs in this revision's transaction (a failure "
    "rolls it back whole); VALIDATE CONSTRAINT runs outside it on purpose and is idempotent",
}

Timestamp = sa.DateTime(timezone=True)


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.add_column(
            "tickets", sa.Column("deleted_by_id", sa.Integer(), nullable=True), if_not_exists=True
        )
        op.execute(
            "ALTER TABLE tickets ADD CONSTRAINT fk_tickets_deleted_by_id_users "
            "FOREIGN KEY (deleted_by_id) REFERENCES users (id) NOT VALID"
        )
        with op.get_context().autocommit_block():
            # Its own transaction: validating scans tickets, and in the transaction that
            # added the key it would do so holding the lock that blocks writes.
            op.execute("ALTER TABLE tickets VALIDATE CONSTRAINT fk_tickets_deleted_by_id_users")
            op.create_index(
                "ix_tickets_deleted_by_id",
                "tickets",
                ["deleted_by_id"],
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.execute(
            "ALTER TABLE tickets ADD COLUMN deleted_by_id INTEGER "
            "CONSTRAINT fk_tickets_deleted_by_id_users REFERENCES users (id)"
        )
        op.create_index("ix_tickets_deleted_by_id", "tickets", ["deleted_by_id"])

    op.create_table(
        "attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("uploader_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint("size >= 0", name=op.f("ck_attachments_size_not_negative")),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_attachments_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_attachments_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"], ["users.id"], name=op.f("fk_attachments_uploader_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attachments")),
    )
    op.create_index("ix_attachments_ticket_id", "attachments", ["ticket_id", "id"])
    op.create_index(op.f("ix_attachments_comment_id"), "attachments", ["comment_id"])
    op.create_index(op.f("ix_attachments_uploader_id"), "attachments", ["uploader_id"])
    op.create_index(op.f("ix_attachments_sha256"), "attachments", ["sha256"])

    op.create_table(
        "form_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_form_tokens_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_form_tokens_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_tokens")),
    )
    op.create_index(op.f("ix_form_tokens_ticket_id"), "form_tokens", ["ticket_id"])
    op.create_index(op.f("ix_form_tokens_comment_id"), "form_tokens", ["comment_id"])


def downgrade():
    op.drop_table("form_tokens")
    op.drop_table("attachments")
    op.drop_index("ix_tickets_deleted_by_id", "tickets")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("fk_tickets_deleted_by_id_users", "tickets", type_="foreignkey")
        op.drop_column("tickets", "deleted_by_id")
        return
    with op.batch_alter_table("tickets", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.drop_column("deleted_by_id")
