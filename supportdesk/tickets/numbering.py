"""Ticket numbers: unique, increasing, never reused (not even after a purge)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session

FIRST_NUMBER = 1001
SEQUENCE_NAME = "ticket_number_seq"  # created by the initial migration (PostgreSQL)
COUNTER_NAME = "ticket_number"


def reserve_ticket_numbers(session: Session | scoped_session[Any], count: int) -> list[int]:
    """Reserve ``count`` ticket numbers and return them in increasing order.

    PostgreSQL uses a real sequence (no lock held until commit, so concurrent creators do
    not queue). SQLite has no sequences; it serialises writers anyway, so a counter row
    updated with ``RETURNING`` costs nothing extra there.
    """
    if count < 1:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            sa.text("SELECT nextval('ticket_number_seq') FROM generate_series(1, :n)"),
            {"n": count},
        )
        return sorted(r[0] for r in rows)
    last = session.execute(
        sa.text("UPDATE counters SET value = value + :n WHERE name = :name RETURNING value"),
        {"n": count, "name": COUNTER_NAME},
    ).scalar_one()
    return list(range(last - count + 1, last + 1))
