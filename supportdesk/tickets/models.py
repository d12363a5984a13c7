"""Tickets and their comments."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.audit.auditable import Auditable
from supportdesk.config import SLA_DEFAULT_HOURS
from supportdesk.db import Base, TimestampMixin, string_enum, utcnow
from supportdesk.rendering import RENDERER_VERSION, render_html
from supportdesk.users.models import User

if TYPE_CHECKING:
    from supportdesk.attachments.models import Attachment
    from supportdesk.customers.models import Customer
    from supportdesk.tags.models import Tag

TICKET_PREFIX = "SD-"


class TicketStatus(enum.StrEnum):
    """Where a ticket is in its life."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """Human-readable name."""
        return self.value.replace("_", " ").capitalize()


class TicketPriority(enum.StrEnum):
    """How urgent a ticket is; ``rank`` orders them (urgent is highest)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        """Stored value: 1 (low) to 4 (urgent), so an index sorts urgent first."""
        return _PRIORITY_RANKS[self]

    @property
    def label(self) -> str:
        """Human-readable name."""
        return self.value.capitalize()


FINISHED_STATUSES = (TicketStatus.RESOLVED, TicketStatus.CLOSED)
OPEN_STATUSES = tuple(s for s in TicketStatus if s not in FINISHED_STATUSES)


def sla_hours() -> dict[TicketPriority, int]:
    """Return the SLA hours per priority (``SUPPORTDESK_SLA_HOURS``, else the defaults)."""
    configured = current_app.config.get("SLA_HOURS") if has_app_context() else None
    hours = configured or SLA_DEFAULT_HOURS
    return {p: int(hours[p.value]) for p in TicketPriority}


def due_at_for(priority: TicketPriority, created_at: dt.datetime) -> dt.datetime:
    """Return when a ticket of ``priority`` created at ``created_at`` is due (its SLA).

    Stamped on the ticket (``Ticket.due_at``) at creation and again when its priority
    changes; a later change of ``SUPPORTDESK_SLA_HOURS`` applies from then on.
    """
    return created_at + dt.timedelta(hours=sla_hours()[TicketPriority(priority)])


def is_overdue(status: TicketStatus, due_at: dt.datetime | None) -> bool:
    """Whether a ticket of this status and due time is overdue now (still open, past due)."""
    if status in FINISHED_STATUSES or due_at is None:
        return False
    return due_at < utcnow()


_PRIORITY_RANKS = {p: i for i, p in enumerate(TicketPriority, start=1)}
_PRIORITY_BY_RANK = {i: p for p, i in _PRIORITY_RANKS.items()}


class PriorityType(sa.types.TypeDecorator[TicketPriority]):
    """Store a :class:`TicketPriority` as its rank, a small integer that sorts correctly."""

    impl = sa.SmallInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        """Store the rank."""
        if value is None:
            return None
        return TicketPriority(value).rank

    def process_result_value(self, value: Any, dialect: Dialect) -> TicketPriority | None:
        """Load the priority from its rank."""
        return None if value is None else _PRIORITY_BY_RANK[value]


TRASHED = "deleted_at IS NOT NULL"


def _live_index(name: str, *columns: str, where: str = "deleted_at IS NULL",
                include: tuple[str, ...] = ()) -> sa.Index:  # fmt: skip
    """Return a partial index; ``include`` adds payload columns on PostgreSQL (INCLUDE)."""
    condition = sa.text(where)
    return sa.Index(name, *columns, postgresql_where=condition, sqlite_where=condition,
                    postgresql_include=list(include))  # fmt: skip


class Counter(Base):
    """Named counters for backends without sequences (SQLite's ticket numbers)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[int] = mapped_column(sa.BigInteger)


class Ticket(Auditable, TimestampMixin, Base):
    """A customer's request, worked by staff."""

    __audit_name__ = "ticket"
    # due_at is recorded: set by hand, or moved by a priority change (the SLA's new time).
    __audit_exclude__ = frozenset(
        {
            "updated_at",
            "version",
            "updated_by_id",
            "first_reply_at",
            "via_email",
            "description_html",
            "html_version",
        }  # fmt: skip
    )
    __audit_collections__ = {"tags": "tag", "ccs": "cc"}
    __audit_soft_delete__ = "deleted_at"
    __audit_delete_action__ = "purged"
    __audit_ticket_key__ = "id"

    __tablename__ = "tickets"
    __table_args__ = (
        sa.CheckConstraint("priority BETWEEN 1 AND 4", name="priority_rank"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
        # Keyset indexes for the list's sorts and filters; partial on live tickets because
        # deleted ones never show in the list (see tickets/queries.py).
        # On PostgreSQL it carries what the reports count per day of creation, so their
        # statements over a range read this index alone (84,000 entries for 30 days at 1M
        # tickets: 36 ms, against 97 ms for two scans of other indexes and the table).
        _live_index(
            "ix_tickets_live_created_at",
            "created_at",
            "id",
            include=("status", "priority", "assignee_id", "first_reply_at"),
        ),  # fmt: skip
        _live_index("ix_tickets_live_updated", "updated_at", "id"),
        _live_index("ix_tickets_live_priority", "priority", "created_at", "id"),
        _live_index("ix_tickets_live_status", "status", "created_at", "id"),
        # Status and priority together (the "urgent open" views and their counts).
        _live_index("ix_tickets_live_status_priority", "status", "priority", "created_at", "id"),
        # Not partial: it also serves the foreign key (deleting a user checks it).
        sa.Index("ix_tickets_assignee_created", "assignee_id", "created_at", "id"),
        # A customer's tickets, newest first; also serves the foreign key.
        sa.Index("ix_tickets_requester_created", "requester_id", "created_at", "id"),
        # The reports page: resolutions in a date range, and open tickets per assignee,
        # answered from the index alone.
        _live_index(
            "ix_tickets_live_resolved",
            "resolved_at",
            "created_at",
            "assignee_id",
            where="deleted_at IS NULL AND resolved_at IS NOT NULL",
        ),  # fmt: skip
        _live_index("ix_tickets_live_status_assignee", "status", "assignee_id"),
        _live_index("ix_tickets_live_due", "due_at", "id"),
        # Overdue counts (reports): open tickets by due time, with their priority, read
        # from the index alone (a heap visit per open ticket cost 0.4 s at 1M).
        _live_index(
            "ix_tickets_live_open_due",
            "due_at",
            "priority",
            where="deleted_at IS NULL AND status IN ('open', 'in_progress', 'waiting_on_customer')",
        ),
        # The trash, most recently deleted first: only deleted rows (an empty trash at 1M
        # tickets was a 184 ms sequential scan and sort without it).
        sa.Index(
            "ix_tickets_trash",
            "deleted_at",
            "id",
            postgresql_where=sa.text(TRASHED),
            sqlite_where=sa.text(TRASHED),
        ),  # fmt: skip
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(sa.Integer, unique=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[TicketStatus] = mapped_column(
        string_enum(TicketStatus, "ticket_status", 32),
        default=TicketStatus.OPEN,
    )
    priority: Mapped[TicketPriority] = mapped_column(PriorityType, default=TicketPriority.MEDIUM)
    creator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    resolved_at: Mapped[dt.datetime | None]
    # When the first public reply was written (internal notes do not count); kept by
    # service.add_comment, read by the reports ("time to first reply").
    first_reply_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Who asked. Nullable only for tickets from before customers existed; every new
    # ticket gets one (tickets.service.create_ticket).
    requester_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    # Set when this ticket was merged into another (it is closed then, and its page
    # redirects there).
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    # When the ticket is due: created_at + its priority's SLA hours (see due_at_for), or
    # the time an agent set by hand (due_is_manual; a priority change then keeps it).
    due_at: Mapped[dt.datetime]
    due_is_manual: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    version: Mapped[int] = mapped_column(sa.Integer)
    # A ticket opened by email: who sent it to whom and when, and the stored original
    # (EmailFacts.as_dict); None for tickets opened in the desk.
    via_email: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    # The description rendered when written (rendering.RENDERER_VERSION; None: render at
    # view time, e.g. rows seeded or written before the column existed).
    # Deferred: only the ticket page shows it (the list must not carry it per row).
    description_html: Mapped[str | None] = mapped_column(
        sa.Text, deferred=True, deferred_raiseload=True
    )
    html_version: Mapped[int | None] = mapped_column(sa.SmallInteger)

    creator: Mapped[User] = relationship(foreign_keys=[creator_id], lazy="raise_on_sql")
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="raise_on_sql")
    updated_by: Mapped[User | None] = relationship(
        foreign_keys=[updated_by_id], lazy="raise_on_sql"
    )
    deleted_by: Mapped[User | None] = relationship(
        foreign_keys=[deleted_by_id], lazy="raise_on_sql"
    )
    comments: Mapped[list[Comment]] = relationship(
        back_populates="ticket",
        order_by="(Comment.created_at, Comment.id)",
        lazy="raise_on_sql",
        passive_deletes=True,
    )
    requester: Mapped[Customer | None] = relationship(lazy="raise_on_sql")
    ccs: Mapped[list[Customer]] = relationship(
        secondary="ticket_ccs",
        order_by="Customer.email",
        lazy="raise_on_sql",
        passive_deletes=True,
    )
    tags: Mapped[list[Tag]] = relationship(
        secondary="ticket_tags",
        order_by="Tag.name",
        lazy="raise_on_sql",
        passive_deletes=True,
    )

    attachments: Mapped[list[Attachment]] = relationship(
        primaryjoin="and_(Attachment.ticket_id == Ticket.id, Attachment.comment_id.is_(None))",
        order_by="Attachment.id",
        lazy="raise_on_sql",
        viewonly=True,
    )

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_deleted(self) -> bool:
        """Deleted tickets sit in the trash until restored or purged."""
        return self.deleted_at is not None

    @hybrid_property
    def is_overdue(self) -> bool:
        """Still open (not resolved or closed) after its due time.

        The same rule in Python (with the clock) and in SQL:
        ``select(Ticket).where(Ticket.is_overdue)`` (served by the due-time index).
        """
        return is_overdue(self.status, self.due_at)

    @is_overdue.inplace.expression
    @classmethod
    def _is_overdue_expression(cls) -> sa.ColumnElement[bool]:
        # IN, not NOT IN: an index on status can serve it.
        return sa.and_(cls.status.in_(OPEN_STATUSES), cls.due_at < utcnow())

    @property
    def is_closed(self) -> bool:
        """Closed tickets are read-only until reopened."""
        return self.status == TicketStatus.CLOSED

    @property
    def reference(self) -> str:
        """The number as staff say it, e.g. ``SD-1042``."""
        return f"{TICKET_PREFIX}{self.number}"

    def __repr__(self) -> str:
        return f"<Ticket {self.reference}>"


class Comment(Auditable, TimestampMixin, Base):
    """A public reply or an internal note on a ticket."""

    __audit_name__ = "comment"
    __audit_ticket_key__ = "ticket_id"
    __audit_exclude__ = frozenset({"via_email", "quoted", "body_html", "html_version"})
    __tablename__ = "comments"
    __table_args__ = (
        sa.Index("ix_comments_ticket_id_created_at", "ticket_id", "created_at"),
        sa.Index("ix_comments_customer_id", "customer_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    body: Mapped[str] = mapped_column(sa.Text)
    is_internal: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # A customer's reply by email: the customer who wrote it (``author`` is then the
    # desk's mail account), the mail's facts (as on Ticket.via_email) and the quoted
    # history and signature trimmed from ``body`` (shown behind "show quoted text").
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customers.id"))
    via_email: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    quoted: Mapped[str | None] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)  # as Ticket.description_html
    html_version: Mapped[int | None] = mapped_column(sa.SmallInteger)

    ticket: Mapped[Ticket] = relationship(back_populates="comments", lazy="raise_on_sql")
    author: Mapped[User] = relationship(lazy="raise_on_sql")
    customer: Mapped[Customer | None] = relationship(lazy="raise_on_sql")
    attachments: Mapped[list[Attachment]] = relationship(
        order_by="Attachment.id", lazy="raise_on_sql", viewonly=True
    )


class TicketFollower(Base):
    """A staff member following a ticket, and when they last opened it."""

    __tablename__ = "ticket_followers"
    __table_args__ = (sa.Index("ix_ticket_followers_user_id", "user_id", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(
        sa.ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seen_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


@sa.event.listens_for(Ticket, "before_insert")
def _stamp_due_at(mapper: Any, connection: Any, ticket: Ticket) -> None:
    """Give every new ticket its due time (the service sets it; this covers the rest)."""
    if ticket.due_at is None:
        if ticket.created_at is None:
            ticket.created_at = utcnow()
        ticket.due_at = due_at_for(ticket.priority or TicketPriority.MEDIUM, ticket.created_at)


# Rendered once, when the text is set (every path sets it through the ORM: forms, macros,
# merge, mail in, the API later): a page view renders no Markdown at all.
@sa.event.listens_for(Ticket.description, "set")
def _render_description(ticket: Ticket, value: str | None, old: Any, initiator: Any) -> None:
    ticket.description_html = render_html(value)
    ticket.html_version = RENDERER_VERSION


@sa.event.listens_for(Comment.body, "set")
def _render_body(comment: Comment, value: str | None, old: Any, initiator: Any) -> None:
    comment.body_html = render_html(value)
    comment.html_version = RENDERER_VERSION
