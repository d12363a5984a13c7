"""Customers: the people who ask (they never log in), and the CCs of a ticket."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.audit.auditable import Auditable
from supportdesk.db import Base, TimestampMixin, UTCDateTime, utcnow


def customer_label(name: str, email: str) -> str:
    """Return how lists name a customer: the name, else the email."""
    return name or email


class Customer(Auditable, TimestampMixin, Base):
    """Someone who writes to the desk; found by email (unique, ignoring case)."""

    __audit_name__ = "customer"
    __tablename__ = "customers"
    __table_args__ = (
        # Case-insensitive uniqueness: Ana@x.org and ana@x.org are one customer. The
        # same index serves the customers page's email prefix search (text_pattern_ops
        # would be needed for LIKE under a non-C collation; lower() = / >= < ranges use it).
        sa.Index("uq_customers_email_lower", sa.func.lower(sa.column("email")), unique=True),
        sa.Index("ix_customers_name_lower", sa.func.lower(sa.column("name")), sa.column("id")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    name: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    organisation: Mapped[str] = mapped_column(sa.String(120), default="", server_default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    # Mail from a blocked customer is parked, and nothing automatic is ever sent to them.
    is_blocked: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    @property
    def display_name(self) -> str:
        """The name, else the email's local part (what a greeting says)."""
        return self.name or self.email.split("@", 1)[0]

    @property
    def label(self) -> str:
        """The name, else the email (what lists show)."""
        return customer_label(self.name, self.email)

    def __repr__(self) -> str:
        return f"<Customer {self.id} {self.email}>"


ticket_ccs = sa.Table(
    "ticket_ccs",
    Base.metadata,
    sa.Column("ticket_id", sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "customer_id", sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    ),  # fmt: skip
    sa.Column("added_at", UTCDateTime(), nullable=False, default=utcnow),
    sa.Index("ix_ticket_ccs_customer_id", "customer_id", "ticket_id"),
)
