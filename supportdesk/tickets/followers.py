"""Followers: who watches a ticket, and whether it changed since they last opened it.

Staff follow what they create, are assigned (one by one or in bulk) or comment on, and
can follow or unfollow any ticket by hand. Following is bookkeeping, not ticket data: it
is not in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.tickets.models import Ticket, TicketFollower


def follow(ticket_ids: Iterable[int], user_id: int, *, seen: bool = False) -> None:
    """Make ``user_id`` follow these tickets (already following: unchanged, or marked seen)."""
    ids = list(ticket_ids)
    if not ids:
        return
    now = utcnow()
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    rows = [{"ticket_id": i, "user_id": user_id, "created_at": now,
             "last_seen_at": now if seen else None} for i in ids]  # fmt: skip
    stmt = dialect.insert(TicketFollower)
    if seen:
        stmt = stmt.on_conflict_do_update(
            index_elements=["ticket_id", "user_id"], set_={"last_seen_at": now}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["ticket_id", "user_id"])
    db.session.execute(stmt, rows)


def unfollow(ticket_id: int, user_id: int) -> None:
    """Stop ``user_id`` following the ticket."""
    db.session.execute(
        sa.delete(TicketFollower).where(
            TicketFollower.ticket_id == ticket_id, TicketFollower.user_id == user_id
        )
    )


def open_ticket(number: int, user_id: int) -> bool:
    """Mark the ticket numbered ``number`` seen by ``user_id``; return whether they follow it.

    One UPDATE, run first in the request: on SQLite a transaction that writes first takes
    the write lock at once (waiting its turn), instead of failing when it upgrades from
    reading after another writer committed.
    """
    ticket_id = sa.select(Ticket.id).where(Ticket.number == number).scalar_subquery()
    result = db.session.execute(
        sa.update(TicketFollower)
        .where(TicketFollower.ticket_id == ticket_id, TicketFollower.user_id == user_id)
        .values(last_seen_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]  # an UPDATE returns a CursorResult


def is_following(ticket_id: int, user_id: int) -> bool:
    """Return whether ``user_id`` follows the ticket."""
    stmt = sa.select(TicketFollower.ticket_id).where(
        TicketFollower.ticket_id == ticket_id, TicketFollower.user_id == user_id
    )
    return db.session.scalar(stmt) is not None
