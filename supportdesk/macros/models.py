"""Macros (a canned reply is a macro without actions) and their tag actions."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.audit.auditable import Auditable
from supportdesk.db import Base, TimestampMixin, string_enum
from supportdesk.tags.models import Tag
from supportdesk.tickets.models import PriorityType, TicketPriority, TicketStatus
from supportdesk.users.models import User


class AssignMode(enum.StrEnum):
    """What a macro does to the assignee."""

    KEEP = "keep"
    ME = "me"  # the agent applying it
    USER = "user"  # a named staff member
    NOBODY = "nobody"


class Macro(Auditable, TimestampMixin, Base):
    """A named reply text with placeholders and optional changes to the ticket."""

    __audit_name__ = "macro"
    __audit_exclude__ = frozenset({"updated_at", "version", "updated_by_id"})

    __tablename__ = "macros"
    __table_args__ = (
        sa.Index("uq_macros_name_lower", sa.func.lower(sa.column("name")), unique=True),
        sa.CheckConstraint(
            "(assign = 'user') = (assign_user_id IS NOT NULL)", name="assign_user_given"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    body: Mapped[str] = mapped_column(sa.Text, default="", server_default="")
    is_internal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    set_status: Mapped[TicketStatus | None] = mapped_column(
        string_enum(TicketStatus, "macro_status", 32)
    )
    set_priority: Mapped[TicketPriority | None] = mapped_column(PriorityType)
    assign: Mapped[AssignMode] = mapped_column(
        string_enum(AssignMode, "macro_assign", 16),
        default=AssignMode.KEEP,
        server_default=AssignMode.KEEP.value,
    )
    assign_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    version: Mapped[int] = mapped_column(sa.Integer)

    assign_user: Mapped[User | None] = relationship(
        foreign_keys=[assign_user_id], lazy="raise_on_sql"
    )
    tag_actions: Mapped[list[MacroTag]] = relationship(
        back_populates="macro",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise_on_sql",
        order_by="MacroTag.tag_id",
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def add_tag_ids(self) -> list[int]:
        """Ids of the tags the macro adds."""
        return [a.tag_id for a in self.tag_actions if a.adds]

    @property
    def remove_tag_ids(self) -> list[int]:
        """Ids of the tags the macro removes."""
        return [a.tag_id for a in self.tag_actions if not a.adds]

    @property
    def has_actions(self) -> bool:
        """Whether applying it changes the ticket's fields (not only adds a reply)."""
        return bool(
            self.set_status or self.set_priority or self.assign != AssignMode.KEEP
            or self.tag_actions
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"<Macro {self.name}>"


class MacroTag(Auditable, Base):
    """A tag a macro adds (``adds``) or removes (not ``adds``)."""

    __audit_name__ = "macro_tag"
    __audit_exclude__ = frozenset()

    __tablename__ = "macro_tags"

    macro_id: Mapped[int] = mapped_column(
        sa.ForeignKey("macros.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    adds: Mapped[bool]

    macro: Mapped[Macro] = relationship(back_populates="tag_actions", lazy="raise_on_sql")
    tag: Mapped[Tag] = relationship(lazy="raise_on_sql")
