"""Tags that group tickets."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk.audit.auditable import Auditable
from supportdesk.db import Base, UTCDateTime, utcnow

ticket_tags = sa.Table(
    "ticket_tags",
    Base.metadata,
    sa.Column("ticket_id", sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False, default=utcnow),
    # (tag_id, ticket_id): tag filters probe it; the primary key serves ticket_id.
    sa.Index("ix_ticket_tags_tag_id_ticket_id", "tag_id", "ticket_id"),
)


class Tag(Auditable, Base):
    """A label such as ``billing`` with a colour, attached to any number of tickets."""

    __audit_name__ = "tag"
    __audit_exclude__ = frozenset()

    __tablename__ = "tags"
    __table_args__ = (
        sa.Index("uq_tags_name_lower", sa.func.lower(sa.column("name")), unique=True),
        sa.CheckConstraint("length(colour) = 7", name="colour_hex"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    colour: Mapped[str] = mapped_column(sa.String(7), default="#6b7280")
    description: Mapped[str] = mapped_column(sa.String(500), default="", server_default="")

    def __repr__(self) -> str:
        return f"<Tag {self.name}>"
