"""Audit trail: actor label, source, ticket, row hash; seals; append-only triggers.

Revision ID: 9d4f2a6b1c37
Revises: 7c3e8f1a2b90
Create Date: 2026-11-22 02:45:00

The triggers make audit_logs and audit_seals append-only for every role, the owner
included: UPDATE, DELETE and TRUNCATE fail. `flask audit prune` is the one exception:
on PostgreSQL it sets `supportdesk.audit_prune = on` for its own transaction (DELETE on
audit_logs only); on SQLite it drops and recreates the delete trigger in its transaction.
"""

import sqlalchemy as sa
from alembic import op

revision = "9d4f2a6b1c37"
down_revision = "7c3e8f1a2b90"
branch_labels = None
depends_on = None

SQUAWK_WAIVERS = {
    "require-concurrent-index-creation": "audit_logs is empty before this revision (nothing "
    "wrote to it yet), so a plain index build is instant and blocks nothing",
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION supportdesk_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_logs'
       AND current_setting('supportdesk.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
SQLITE_TRIGGERS = {
    "audit_logs_no_update": "BEFORE UPDATE ON audit_logs",
    "audit_logs_no_delete": "BEFORE DELETE ON audit_logs",
    "audit_seals_no_update": "BEFORE UPDATE ON audit_seals",
    "audit_seals_no_delete": "BEFORE DELETE ON audit_seals",
}


def upgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("audit_logs", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.add_column(sa.Column("actor_label", sa.String(254), server_default="",
                                   nullable=False))  # fmt: skip
        batch.add_column(sa.Column("source", sa.String(16), server_default="web",
                                   nullable=False))  # fmt: skip
        batch.add_column(sa.Column("ticket_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(64), nullable=True))
    # The table is empty before this revision (nothing wrote to it), so plain index builds
    # take no time even on a large desk.
    op.create_index("ix_audit_logs_ticket_id", "audit_logs", ["ticket_id", "id"])
    op.create_index("ix_audit_logs_action_id", "audit_logs", ["action", "id"])
    op.create_table(
        "audit_seals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_log_id", sa.BigInteger(), nullable=False),
        sa.Column("last_log_id", sa.BigInteger(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("previous_digest", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seals")),
    )
    if postgresql:
        op.execute(PG_FUNCTION)
        for table in ("audit_logs", "audit_seals"):
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION supportdesk_audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION supportdesk_audit_append_only()"
            )
    else:
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} BEGIN "
                "SELECT RAISE(ABORT, 'the audit log is append-only'); END"
            )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in ("audit_logs", "audit_seals"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS supportdesk_audit_append_only()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("audit_seals")
    op.drop_index("ix_audit_logs_action_id", "audit_logs")
    op.drop_index("ix_audit_logs_ticket_id", "audit_logs")
    with op.batch_alter_table("audit_logs", reflect_kwargs={"resolve_fks": False}) as batch:
        batch.drop_column("row_hash")
        batch.drop_column("ticket_id")
        batch.drop_column("source")
        batch.drop_column("actor_label")
