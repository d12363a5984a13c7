"""macros and macro_tags: canned replies with placeholders and ticket actions.

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-11-22 08:00:00

New tables only, so nothing existing is locked beyond the brief share lock the foreign
keys take on users and tags.
"""

import sqlalchemy as sa
from alembic import op

revision = "c9d0e1f2a3b4"
down_revision = "b8c9d0e1f2a3"
branch_labels = None
depends_on = None

STATUSES = ("open", "in_progress", "waiting_on_customer", "resolved", "closed")


def upgrade():
    op.create_table(
        "macros",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("is_internal", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("set_status", sa.Enum(*STATUSES, name="macro_status", native_enum=False,
                                         create_constraint=True, length=32), nullable=True),
        sa.Column("set_priority", sa.SmallInteger(), nullable=True),
        sa.Column("assign", sa.Enum("keep", "me", "user", "nobody", name="macro_assign",
                                     native_enum=False, create_constraint=True, length=16),
                  server_default="keep", nullable=False),
        sa.Column("assign_user_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(assign = 'user') = (assign_user_id IS NOT NULL)",
                           name=op.f("ck_macros_assign_user_given")),
        sa.ForeignKeyConstraint(["assign_user_id"], ["users.id"],
                                name=op.f("fk_macros_assign_user_id_users")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"],
                                name=op.f("fk_macros_updated_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_macros")),
    )  # fmt: skip
    op.create_index("ix_macros_assign_user_id", "macros", ["assign_user_id"])
    op.create_index("ix_macros_updated_by_id", "macros", ["updated_by_id"])
    op.create_index("uq_macros_name_lower", "macros", [sa.text("lower(name)")], unique=True)
    op.create_table(
        "macro_tags",
        sa.Column("macro_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("adds", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["macro_id"], ["macros.id"], ondelete="CASCADE",
                                name=op.f("fk_macro_tags_macro_id_macros")),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], ondelete="CASCADE",
                                name=op.f("fk_macro_tags_tag_id_tags")),
        sa.PrimaryKeyConstraint("macro_id", "tag_id", name=op.f("pk_macro_tags")),
    )  # fmt: skip
    op.create_index("ix_macro_tags_tag_id", "macro_tags", ["tag_id"])


def downgrade():
    op.drop_index("ix_macro_tags_tag_id", "macro_tags")
    op.drop_table("macro_tags")
    op.drop_index("uq_macros_name_lower", "macros")
    op.drop_index("ix_macros_updated_by_id", "macros")
    op.drop_index("ix_macros_assign_user_id", "macros")
    op.drop_table("macros")
