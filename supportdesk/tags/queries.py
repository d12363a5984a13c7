"""Read-only queries for the tag pages."""

from __future__ import annotations

import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets.models import Ticket


def tags_with_counts() -> list[tuple[Tag, int]]:
    """Return every tag with the number of live tickets carrying it, in one statement."""
    live = sa.and_(Ticket.id == ticket_tags.c.ticket_id, Ticket.deleted_at.is_(None))
    stmt = (
        sa.select(Tag, sa.func.count(Ticket.id))
        .outerjoin(ticket_tags, ticket_tags.c.tag_id == Tag.id)
        .outerjoin(Ticket, live)
        .group_by(Tag.id)
        .order_by(sa.func.lower(Tag.name))
    )
    return [(tag, count) for tag, count in db.session.execute(stmt).all()]


def all_tags() -> list[Tag]:
    """Return every tag by name (one statement)."""
    return list(db.session.scalars(sa.select(Tag).order_by(sa.func.lower(Tag.name), Tag.id)))
