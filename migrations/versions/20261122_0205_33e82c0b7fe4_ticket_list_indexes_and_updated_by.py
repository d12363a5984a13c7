"""Ticket list indexes (keyset sorts and filters) and tickets.updated_by_id.

Revision ID: 33e82c0b7fe4
Revises: d898605c4478
Create Date: 2026-11-22 02:05:00

On PostgreSQL the indexes are built CONCURRENTLY (outside the revision's transaction) and
the foreign key is added NOT VALID, then validated, so a live desk keeps writing.
"""

import sqlalchemy as sa
from alembic import op

revision = "33e82c0b7fe4"
down_revision = "d898605c4478"
branch_labels = None
depends_on = None

SQUAWK_WAIVERS = {
    "prefer-robust-stmts": "ADD CONSTRAINT runs in this revision's transaction (a failure "
    "rolls it back whole); VALIDATE CONSTRAINT runs outside it on purpose and is idempotent",
}

LIVE = sa.text("deleted_at IS NULL")
LIVE_INDEXES = {
    "ix_tickets_live_updated": ["updated_at", "id"],
    "ix_tickets_live_priority": ["priority", "created_at", "id"],
    "ix_tickets_live_status": ["status", "created_at", "id"],
}


def _is_postgresql():
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _is_postgresql():
        op.add_column(
            "tickets", sa.Column("updated_by_id", sa.Integer(), nullable=True), if_not_exists=True
        )
        op.execute(
            "ALTER TABLE tickets ADD CONSTRAINT fk_tickets_updated_by_id_users "
            "FOREIGN KEY (updated_by_id) REFERENCES users (id) NOT VALID"
        )
        with op.get_context().autocommit_block():
            # Its own transaction: validating scans tickets, and in the transaction that
            # added the key it would do so holding the lock that blocks writes.
            op.execute("ALTER TABLE tickets VALIDATE CONSTRAINT fk_tickets_updated_by_id_users")
            _create_indexes(concurrently=True)
    else:
        # SQLite can add a column with an inline, named foreign key without a table rebuild.
        op.execute(
            "ALTER TABLE tickets ADD COLUMN updated_by_id INTEGER "
            "CONSTRAINT fk_tickets_updated_by_id_users REFERENCES users (id)"
        )
        _create_indexes(concurrently=False)


def _create_indexes(*, concurrently):
    options = {"postgresql_concurrently": True} if concurrently else {}
    for name, columns in LIVE_INDEXES.items():
        op.create_index(
            name,
            "tickets",
            columns,
            postgresql_where=LIVE,
            sqlite_where=LIVE,
            if_not_exists=True,
            **options,
        )
    op.create_index(
        "ix_tickets_assignee_created",
        "tickets",
        ["assignee_id", "created_at", "id"],
        if_not_exists=True,
        **options,
    )
    op.create_index(
        "ix_tickets_updated_by_id", "tickets", ["updated_by_id"], if_not_exists=True, **options
    )
    op.create_index(
        "ix_ticket_tags_tag_id_ticket_id",
        "ticket_tags",
        ["tag_id", "ticket_id"],
        if_not_exists=True,
        **options,
    )
    # The new composite indexes lead with the same columns, so the old ones are redundant.
    op.drop_index("ix_tickets_assignee_id", "tickets", if_exists=True, **options)
    op.drop_index("ix_ticket_tags_tag_id", "ticket_tags", if_exists=True, **options)


def downgrade():
    op.create_index("ix_ticket_tags_tag_id", "ticket_tags", ["tag_id"])
    op.create_index("ix_tickets_assignee_id", "tickets", ["assignee_id"])
    op.drop_index("ix_ticket_tags_tag_id_ticket_id", "ticket_tags")
    op.drop_index("ix_tickets_updated_by_id", "tickets")
    op.drop_index("ix_tickets_assignee_created", "tickets")
    for name in LIVE_INDEXES:
        op.drop_index(name, "tickets")
    if _is_postgresql():
        op.drop_constraint("fk_tickets_updated_by_id_users", "tickets", type_="foreignkey")
        op.drop_column("tickets", "updated_by_id")
        return
    # SQLite rebuilds the table without the column (and so without its foreign key);
    # resolve_fks=False spares reflecting users, whose expression index it cannot read.
    with op.batch_alter_table("tickets", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.drop_column("updated_by_id")
