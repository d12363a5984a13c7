"""Customers as seen from their tickets: their tickets, and merging two customers.

Merging is an admin's data fix, not an edit of the tickets: closed tickets move too. It
runs set-based (a customer may have hundreds of tickets) and writes its audit rows with
the listener's own builders, in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from supportdesk import paging
from supportdesk.audit.listeners import audited_bulk, collection_rows, update_rows, write_rows
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.customers.service import InvalidCustomerError
from supportdesk.db import db, utcnow
from supportdesk.tickets.bulk import chunks
from supportdesk.tickets.models import OPEN_STATUSES, Ticket
from supportdesk.users.models import User

PAGE = 25


def customer_tickets(
    customer_id: int, *, secret: str, cursor: str | None = None
) -> tuple[list[Ticket], str | None, int, int]:
    """Return a page of a customer's live tickets, newest first, in two statements.

    Also returns the next page's cursor and the customer's open and total counts.

    :raises paging.InvalidCursorError: ``cursor`` is damaged.
    """
    live = sa.and_(Ticket.requester_id == customer_id, Ticket.deleted_at.is_(None))
    stmt = (
        sa.select(Ticket)
        .where(live)
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(PAGE + 1)
        .options(joinedload(Ticket.assignee))
    )
    if cursor:
        _, key = paging.decode_cursor(secret, cursor, scope="customer-tickets",
                                      kinds=("datetime", "int"))  # fmt: skip
        after = sa.tuple_(sa.bindparam(None, key[0], type_=Ticket.created_at.type),
                          sa.literal(key[1]))  # fmt: skip
        stmt = stmt.where(sa.tuple_(Ticket.created_at, Ticket.id) < after)
    tickets = list(db.session.scalars(stmt))
    counts = db.session.execute(
        sa.select(sa.func.count().filter(Ticket.status.in_(OPEN_STATUSES)), sa.func.count()).where(
            live
        )
    ).one()
    next_cursor = None
    if len(tickets) > PAGE:
        tickets = tickets[:PAGE]
        last = tickets[-1]
        next_cursor = paging.encode_cursor(secret, (last.created_at, last.id),
                                           scope="customer-tickets")  # fmt: skip
    return tickets, next_cursor, int(counts[0]), int(counts[1])


def merge_customers(source: Customer, target: Customer, *, actor: User) -> int:
    """Move ``source``'s tickets and CCs to ``target``, then delete ``source``.

    :returns: how many tickets changed requester.
    :raises InvalidCustomerError: the two are the same customer.
    """
    if source.id == target.id:
        raise InvalidCustomerError("A customer cannot be merged into themselves.")
    now = utcnow()
    moved = _move_requester(source.id, target.id, actor, now)
    _move_ccs(source.id, target.id)
    if source.notes:
        target.notes = "\n\n".join(n for n in (target.notes, source.notes) if n)
    if source.name and not target.name:
        target.name = source.name
    if source.organisation and not target.organisation:
        target.organisation = source.organisation
    target.is_blocked = target.is_blocked or source.is_blocked
    db.session.delete(source)
    db.session.flush()
    return moved


def _move_requester(source_id: int, target_id: int, actor: User, now: dt.datetime) -> int:
    ids = list(db.session.scalars(sa.select(Ticket.id).where(Ticket.requester_id == source_id)))
    if not ids:
        return 0
    with audited_bulk():
        for chunk in chunks(ids):
            db.session.execute(
                sa.update(Ticket)
                .where(Ticket.id.in_(chunk))
                .values(
                    requester_id=target_id,
                    version=Ticket.version + 1,
                    updated_at=now,
                    updated_by_id=actor.id,
                )  # fmt: skip
                .execution_options(synchronize_session=False)
            )
        rows = update_rows(
            Ticket, [(i, {"requester_id": source_id}, {"requester_id": target_id}) for i in ids]
        )
        write_rows(db.session.connection(), rows)
    _expire(set(ids))
    return len(ids)


def _move_ccs(source_id: int, target_id: int) -> None:
    tickets = list(db.session.scalars(
        sa.select(ticket_ccs.c.ticket_id).where(ticket_ccs.c.customer_id == source_id)
    ))  # fmt: skip
    if not tickets:
        return
    # A ticket already copying the target (or asked by it) only loses the source.
    covered = set(db.session.scalars(
        sa.select(Ticket.id).where(Ticket.id.in_(tickets), sa.or_(
            Ticket.requester_id == target_id,
            Ticket.id.in_(sa.select(ticket_ccs.c.ticket_id)
                          .where(ticket_ccs.c.customer_id == target_id)),
        ))
    ))  # fmt: skip
    items: list[tuple[Any, list[int], list[int]]] = []
    with audited_bulk():
        db.session.execute(sa.delete(ticket_ccs).where(ticket_ccs.c.customer_id == source_id))
        fresh = [t for t in tickets if t not in covered]
        if fresh:
            db.session.execute(
                sa.insert(ticket_ccs),
                [{"ticket_id": t, "customer_id": target_id, "added_at": utcnow()} for t in fresh],
            )
        items = [(t, [] if t in covered else [target_id], [source_id]) for t in tickets]
        write_rows(db.session.connection(), collection_rows(Ticket, "ccs", items))
    _expire(set(tickets))


def _expire(ticket_ids: set[int]) -> None:
    for obj in list(db.session.identity_map.values()):  # loaded copies are now stale
        if isinstance(obj, Ticket) and obj.id in ticket_ids:
            db.session.expire(obj)
