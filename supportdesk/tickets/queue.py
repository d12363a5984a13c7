"""Take next: hand the calling agent the most urgent, oldest unassigned open ticket.

Two agents pressing the button at the same moment must never get the same ticket. On
PostgreSQL the candidate row is locked with ``FOR UPDATE SKIP LOCKED``: a second agent
skips the row the first one holds and takes the next one, without waiting. On SQLite,
write requests start with ``BEGIN IMMEDIATE`` (supportdesk.db), so whole takes run one
after another and the second sees the first one's assignment.
"""

from __future__ import annotations

import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.tags.models import ticket_tags
from supportdesk.tickets.models import Ticket, TicketStatus
from supportdesk.tickets.rules import TicketEdit
from supportdesk.tickets.service import update_ticket
from supportdesk.users.models import User


def take_next(agent: User, *, tag_id: int | None = None) -> Ticket | None:
    """Assign ``agent`` the next ticket of the queue and return it (None: queue empty).

    The queue: live, open, unassigned tickets (with ``tag_id``, only those carrying it),
    most urgent first, then oldest first. The assignment goes through the usual service
    (version bump, audit row).
    """
    stmt = (
        sa.select(Ticket)
        .where(
            Ticket.deleted_at.is_(None),
            Ticket.status == TicketStatus.OPEN,
            Ticket.assignee_id.is_(None),
        )
        .order_by(Ticket.priority.desc(), Ticket.created_at, Ticket.id)
        .limit(1)
    )
    if tag_id is not None:
        stmt = stmt.where(
            sa.exists().where(ticket_tags.c.ticket_id == Ticket.id, ticket_tags.c.tag_id == tag_id)
        )
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=Ticket)
    ticket = db.session.scalars(stmt).first()
    if ticket is None:
        return None
    update_ticket(ticket, TicketEdit(assignee=agent), actor=agent,
                  expected_version=ticket.version)  # fmt: skip
    db.session.flush()
    return ticket
