"""Filling ``tickets.due_at`` for tickets created before it existed (resumable, batched).

Each batch is one id range (``id >= low AND id < low + batch``) updated where ``due_at IS
NULL`` and committed on its own, so the desk keeps working, an interrupted run loses at
most one batch, and a second run only touches what is still empty. This is the one CLI
command that commits more than once: a backfill of a million rows in one transaction
would hold its locks and its undo for minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from supportdesk.audit.listeners import audited_bulk, record_event
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.rendering import RENDERER_VERSION, render_html
from supportdesk.tickets.models import Comment, Ticket, sla_hours


def _due_expression(dialect: str) -> sa.ColumnElement[Any]:
    """Return ``created_at + the priority's SLA hours`` as SQL for ``dialect``."""
    hours = sa.case(*((Ticket.priority == p, h) for p, h in sla_hours().items()))
    if dialect == "postgresql":
        return Ticket.created_at + sa.func.make_interval(0, 0, 0, 0, hours)
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff": shift the seconds, keep the fraction.
    shift = sa.literal("+") + sa.cast(hours, sa.String) + sa.literal(" hours")
    seconds = sa.func.strftime("%Y-%m-%d %H:%M:%S", Ticket.created_at, shift, type_=sa.String)
    return seconds + sa.func.substr(Ticket.created_at, 20, type_=sa.String)


def missing_due_at() -> int:
    """Return how many tickets have no due time."""
    return db.session.scalar(sa.select(sa.func.count()).where(Ticket.due_at.is_(None))) or 0


def backfill_due_at(*, batch_size: int, progress: Callable[[int], None] = lambda n: None) -> int:
    """Stamp ``due_at`` on every ticket without one; return how many were stamped.

    ``progress`` is called with the number of ids covered after each committed batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    top = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(Ticket.id), 0))) or 0
    dialect = db.session.get_bind().dialect.name
    due = _due_expression(dialect)
    db.session.commit()  # end the read transaction: each batch is its own
    filled = 0
    for low in range(0, top + 1, batch_size):
        with unit_of_work(), audited_bulk():  # a derived value, recorded once below
            result = db.session.execute(
                sa.update(Ticket)
                .where(Ticket.id >= low, Ticket.id < low + batch_size, Ticket.due_at.is_(None))
                .values(due_at=due)
                .execution_options(synchronize_session=False)
            )
            filled += result.rowcount or 0  # type: ignore[attr-defined]  # an UPDATE's CursorResult
        progress(min(batch_size, top + 1 - low))
    with unit_of_work():
        record_event("ticket.due_at_backfilled", entity=("tickets", 0),
                     changes={"tickets": filled, "sla_hours": {p.value: h for p, h in
                                                               sla_hours().items()}})  # fmt: skip
    return filled


def refresh_rendered(*, batch_size: int, progress: Callable[[int], None] = lambda n: None) -> int:
    """Store the HTML of every description and comment of an older renderer version.

    Older rows, seeded rows, or all of them after RENDERER_VERSION went up; returns how
    many were stored.

    Batches of ids, each committed on its own: resumable, and the desk keeps working.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    done = 0
    for model, text, html in ((Ticket, Ticket.description, Ticket.description_html),
                              (Comment, Comment.body, Comment.body_html)):  # fmt: skip
        stale = sa.or_(model.html_version.is_(None), model.html_version != RENDERER_VERSION)
        top = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(model.id), 0))) or 0
        db.session.commit()  # end the read transaction: each batch is its own
        for low in range(0, top + 1, batch_size):
            with unit_of_work(), audited_bulk():  # derived from audited text: not recorded
                rows = db.session.execute(
                    sa.select(model.id, text).where(model.id >= low,
                                                    model.id < low + batch_size, stale)
                ).all()  # fmt: skip
                if rows:  # Core executemany: the ticket's version is not a user's edit
                    table: sa.Table = model.__table__  # type: ignore[assignment]  # a mapped Table
                    db.session.execute(
                        sa.update(table).where(table.c.id == sa.bindparam("row_id"))
                        .values({html.key: sa.bindparam("html"), "html_version": RENDERER_VERSION}),
                        [{"row_id": i, "html": render_html(t)} for i, t in rows],
                    )  # fmt: skip
                done += len(rows)
            progress(min(batch_size, top + 1 - low))
    return done
