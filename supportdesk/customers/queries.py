"""Read-only queries for the customers pages."""

from __future__ import annotations

import sqlalchemy as sa

from supportdesk import paging
from supportdesk.customers.models import Customer
from supportdesk.db import db

PAGE = 50


def customer_page(
    q: str, *, secret: str, cursor: str | None = None, size: int = PAGE
) -> tuple[list[Customer], str | None]:
    """Return customers whose email or name starts with ``q`` (any case), by email.

    Keyset paged on (lower(email), id): page 1,000 costs what page 1 does.

    :raises paging.InvalidCursorError: ``cursor`` is damaged.
    """
    email = sa.func.lower(Customer.email)
    stmt = sa.select(Customer).order_by(email, Customer.id).limit(size + 1)
    typed = q.strip().lower()
    if typed:
        pattern = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        name = sa.func.lower(Customer.name)
        stmt = stmt.where(sa.or_(email.like(pattern, escape="\\"), name.like(pattern, escape="\\")))
    if cursor:
        _, key = paging.decode_cursor(secret, cursor, scope="customers", kinds=(str, "int"))
        after = sa.tuple_(sa.literal(key[0]), sa.literal(key[1]))
        stmt = stmt.where(sa.tuple_(email, Customer.id) > after)
    rows = list(db.session.scalars(stmt))
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = paging.encode_cursor(secret, (last.email.lower(), last.id), scope="customers")
    return rows, next_cursor


def get_customer(customer_id: int) -> Customer | None:
    """Return the customer, or None."""
    return db.session.get(Customer, customer_id)
