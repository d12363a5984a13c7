"""The ticket list as CSV: exactly the filtered set, every page, in constant memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from supportdesk.csvexport import JOINED
from supportdesk.customers.models import Customer
from supportdesk.extensions import db
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.tickets.queries import SORT_KEYS, TicketFilters, filter_conditions
from supportdesk.users.models import User

COLUMNS = (
    "number", "title", "status", "priority", "assignee", "assignee_email", "requester",
    "requester_email", "tags", "comments", "created_at", "updated_at", "resolved_at",
    "due_at", "due_set_by_hand",
)  # fmt: skip
JOINED_COLUMNS = ("tags",)  # several values joined by csvexport.JOINED
BATCH = 1_000


def _statement(filters: TicketFilters, *, user_id: int | None) -> sa.Select[Any]:
    tags = (
        sa.select(sa.func.aggregate_strings(Tag.name, JOINED))
        .select_from(ticket_tags.join(Tag, Tag.id == ticket_tags.c.tag_id))
        .where(ticket_tags.c.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )
    comments = (
        sa.select(sa.func.count(Comment.id))
        .where(Comment.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )
    # The list's order, except relevance: the export holds every match, not the ranked
    # candidates, so it is ordered by creation.
    columns = SORT_KEYS.get(filters.sort, SORT_KEYS["created"])
    descending = filters.direction == "desc"
    return (
        sa.select(
            Ticket.number,
            Ticket.title,
            Ticket.status,
            Ticket.priority,
            User.full_name,
            User.email,
            Customer.name,
            Customer.email,
            tags,
            comments,
            Ticket.created_at,
            Ticket.updated_at,
            Ticket.resolved_at,
            Ticket.due_at,
            Ticket.due_is_manual,
        )  # fmt: skip
        .outerjoin(User, User.id == Ticket.assignee_id)
        .outerjoin(Customer, Customer.id == Ticket.requester_id)
        .where(*filter_conditions(filters, user_id=user_id or 0))
        .order_by(*[c.desc() if descending else c.asc() for c in columns])
        .execution_options(yield_per=BATCH)
    )


def count(filters: TicketFilters, *, user_id: int | None) -> int:
    """Return how many tickets the export will hold (for a progress bar)."""
    conditions = filter_conditions(filters, user_id=user_id or 0)
    return db.session.scalar(sa.select(sa.func.count(Ticket.id)).where(*conditions)) or 0


def rows(filters: TicketFilters, *, user_id: int | None) -> Iterator[tuple[Any, ...]]:
    """Yield one plain row per matching ticket, in the list's order.

    ``yield_per`` streams from a server-side cursor on PostgreSQL; plain rows are not kept
    in the session, so memory stays flat however many tickets match.
    """
    for row in db.session.execute(_statement(filters, user_id=user_id)):
        yield (
            f"SD-{row[0]}", row[1], row[2].value, row[3].value, *row[4:-1],
            "yes" if row[-1] else "no",
        )  # fmt: skip
