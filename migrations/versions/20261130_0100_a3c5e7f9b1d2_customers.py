"""customers, ticket_ccs and tickets.requester_id: every ticket gets a requester.

Revision ID: a3c5e7f9b1d2
Revises: f2a3b4c5d6e7
Create Date: 2026-11-30 01:00:00

Live-safe on PostgreSQL: two new tables lock nothing existing; tickets.requester_id is a
nullable column (instant), its foreign key is added NOT VALID (no scan under lock) and
validated in its own transaction, its index is built CONCURRENTLY. Tickets from before
the upgrade keep no requester (the ticket page says so); every new ticket has one.
SQLite adds the column with its REFERENCES clause in place (no table copy, which would
drop the full-text triggers).
"""

import sqlalchemy as sa
from alembic import op

revision = "a3c5e7f9b1d2"
down_revision = "f2a3b4c5d6e7"
branch_labels = None
depends_on = None

SQUAWK_WAIVERS = {
    "prefer-robust-stmts": "ADD CONSTRAINT runs in this revision's transaction (a failure "
    "rolls it back whole); VALIDATE CONSTRAINT runs outside it on purpose and is idempotent",
}

FK = "fk_tickets_requester_id_customers"
INDEX = "ix_tickets_requester_created"


def upgrade():
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(120), server_default="", nullable=False),
        sa.Column("organisation", sa.String(120), server_default="", nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("is_blocked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )
    op.create_index("uq_customers_email_lower", "customers", [sa.text("lower(email)")],
                    unique=True)  # fmt: skip
    op.create_index("ix_customers_name_lower", "customers", [sa.text("lower(name)"), "id"])
    op.create_table(
        "ticket_ccs",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE",
                                name=op.f("fk_ticket_ccs_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE",
                                name=op.f("fk_ticket_ccs_customer_id_customers")),
        sa.PrimaryKeyConstraint("ticket_id", "customer_id", name=op.f("pk_ticket_ccs")),
    )  # fmt: skip
    op.create_index("ix_ticket_ccs_customer_id", "ticket_ccs", ["customer_id", "ticket_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("tickets", sa.Column("requester_id", sa.Integer()), if_not_exists=True)
        op.execute(
            f"ALTER TABLE tickets ADD CONSTRAINT {FK} FOREIGN KEY (requester_id) "
            "REFERENCES customers (id) NOT VALID"
        )
        with op.get_context().autocommit_block():
            op.execute(f"ALTER TABLE tickets VALIDATE CONSTRAINT {FK}")
            op.create_index(INDEX, "tickets", ["requester_id", "created_at", "id"],
                            postgresql_concurrently=True, if_not_exists=True)  # fmt: skip
    else:
        op.execute(
            f"ALTER TABLE tickets ADD COLUMN requester_id INTEGER CONSTRAINT {FK} "
            "REFERENCES customers (id)"
        )
        op.create_index(INDEX, "tickets", ["requester_id", "created_at", "id"])


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(INDEX, "tickets", postgresql_concurrently=True, if_exists=True)
        op.drop_constraint(FK, "tickets", type_="foreignkey")
        op.drop_column("tickets", "requester_id")
    else:
        op.drop_index(INDEX, "tickets")
        op.execute("ALTER TABLE tickets DROP COLUMN requester_id")
    op.drop_index("ix_ticket_ccs_customer_id", "ticket_ccs")
    op.drop_table("ticket_ccs")
    op.drop_index("ix_customers_name_lower", "customers")
    op.drop_index("uq_customers_email_lower", "customers")
    op.drop_table("customers")
