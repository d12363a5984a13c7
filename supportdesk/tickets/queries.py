"""Read-only queries for the ticket pages."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from supportdesk.extensions import db
from supportdesk.tickets.models import Ticket

PAGE_SIZE = 25


def newest_tickets(limit: int = PAGE_SIZE) -> list[Ticket]:
    """Return the newest live tickets with their assignees, in one statement."""
    stmt = (
        sa.select(Ticket)
        .where(Ticket.deleted_at.is_(None))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
        .options(joinedload(Ticket.assignee))
    )
    return list(db.session.scalars(stmt))
