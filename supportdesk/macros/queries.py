"""Reading macros for the pages that offer them."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from supportdesk.extensions import db
from supportdesk.macros.models import AssignMode, Macro, MacroTag
from supportdesk.tickets.models import TicketPriority, TicketStatus


@dataclass(frozen=True)
class PickerMacro:
    """A macro as the comment box offers it."""

    id: int
    name: str
    body: str
    is_internal: bool
    set_status: TicketStatus | None
    set_priority: TicketPriority | None
    has_actions: bool


# The row type of a Select is spelled differently by SQLAlchemy 2.0 and 2.1: left open.
# One constant select: the option lists' statement is built (and its cache key worked
# out) once per process for it (tickets.queries.filter_options).
OPTION_ROWS = sa.select(Macro.id.label("id"), Macro.name.label("label"))


def option_rows() -> sa.Select:
    """Return ``(id, label)`` of every macro, for the ticket pages' option lists."""
    return OPTION_ROWS


def for_picker() -> list[PickerMacro]:
    """Return every macro for the comment box, by name, in one statement."""
    has_tags = sa.exists().where(MacroTag.macro_id == Macro.id)
    has_actions = sa.or_(
        Macro.set_status.is_not(None),
        Macro.set_priority.is_not(None),
        Macro.assign != AssignMode.KEEP,
        has_tags,
    )
    stmt = sa.select(
        Macro.id, Macro.name, Macro.body, Macro.is_internal, Macro.set_status,
        Macro.set_priority, has_actions.label("has_actions"),
    ).order_by(sa.func.lower(Macro.name))  # fmt: skip
    return [PickerMacro(*row) for row in db.session.execute(stmt)]


def all_macros() -> list[Macro]:
    """Return every macro with its tag actions and assignee (the macros page), by name."""
    stmt = (
        sa.select(Macro)
        .options(selectinload(Macro.tag_actions), selectinload(Macro.assign_user))
        .order_by(sa.func.lower(Macro.name))
    )
    return list(db.session.scalars(stmt))
