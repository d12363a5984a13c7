"""Macro rules: saving (validated placeholders and actions) and applying to tickets.

Applying goes through the ticket service (``update_ticket``, ``add_comment``), so a
macro obeys the same rules, optimistic locking and audit trail as single edits: the
audit log records each change it makes (status, priority, assignee, tags, the reply),
all in the caller's one transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import joinedload, selectinload

from supportdesk.db import parse_id
from supportdesk.errors import ConflictError, DomainError
from supportdesk.extensions import db
from supportdesk.macros import placeholders
from supportdesk.macros.models import AssignMode, Macro, MacroTag
from supportdesk.macros.queries import for_picker
from supportdesk.tags.models import Tag
from supportdesk.tickets import rules
from supportdesk.tickets import service as tickets
from supportdesk.tickets.bulk import BulkResult, check_selection, chunks, select_rows
from supportdesk.tickets.models import Comment, Ticket, TicketPriority, TicketStatus
from supportdesk.tickets.rules import Skip, TicketEdit
from supportdesk.users.models import User

BULK_LIMIT = 1_000  # each ticket is a full single edit (rules, audit), not a set update


class InvalidMacroError(DomainError):
    """A macro's values break a rule; ``field`` names the form field to blame."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StaleMacroError(ConflictError):
    """Another admin saved the macro since this form was loaded."""


@dataclass
class MacroValues:
    """What an admin types into the macro form."""

    name: str
    body: str = ""
    is_internal: bool = False
    set_status: TicketStatus | None = None
    set_priority: TicketPriority | None = None
    assign: AssignMode = AssignMode.KEEP
    assign_user_id: int | None = None
    add_tag_ids: Sequence[int] = ()
    remove_tag_ids: Sequence[int] = ()


def _check(values: MacroValues, *, exclude_id: int | None = None) -> MacroValues:
    name = " ".join((values.name or "").split())
    if not name or len(name) > 100:
        raise InvalidMacroError("A name needs 1 to 100 characters.", "name")
    clash = db.session.scalar(
        sa.select(Macro.name).where(
            sa.func.lower(Macro.name) == name.lower(), Macro.id != (exclude_id or 0)
        )  # fmt: skip
    )
    if clash is not None:
        raise InvalidMacroError(f"A macro named {clash!r} already exists.", "name")
    body = (values.body or "").strip()
    if found := placeholders.problems(body):
        raise InvalidMacroError(" ".join(found), "body")
    assign_user_id = values.assign_user_id if values.assign == AssignMode.USER else None
    if values.assign == AssignMode.USER:
        user = db.session.get(User, assign_user_id) if assign_user_id else None
        if user is None or not user.is_active:
            raise InvalidMacroError("Choose an active staff member to assign.", "assign_user")
    add, remove = sorted(set(values.add_tag_ids)), sorted(set(values.remove_tag_ids))
    if both := set(add) & set(remove):
        names = ", ".join(db.session.scalars(sa.select(Tag.name).where(Tag.id.in_(both))))
        raise InvalidMacroError(f"A tag cannot be both added and removed: {names}.", "remove_tags")
    wanted = set(add) | set(remove)
    if wanted and len(db.session.scalars(sa.select(Tag.id).where(Tag.id.in_(wanted))).all()) != len(
        wanted
    ):
        raise InvalidMacroError("One of the tags no longer exists; reload the page.", "add_tags")
    cleaned = MacroValues(
        name=name, body=body, is_internal=bool(values.is_internal),
        set_status=values.set_status, set_priority=values.set_priority, assign=values.assign,
        assign_user_id=assign_user_id, add_tag_ids=add, remove_tag_ids=remove,
    )  # fmt: skip
    if not body and not _has_actions(cleaned):
        raise InvalidMacroError("A macro needs a reply text, at least one action, or both.")
    return cleaned


def _has_actions(values: MacroValues) -> bool:
    return bool(values.set_status or values.set_priority or values.assign != AssignMode.KEEP
                or values.add_tag_ids or values.remove_tag_ids)  # fmt: skip


def create_macro(values: MacroValues, *, actor: User) -> Macro:
    """Create a macro.

    :raises InvalidMacroError: a value breaks a rule (unknown placeholder, taken name…).
    """
    values = _check(values)
    macro = Macro(updated_by_id=actor.id, tag_actions=[])
    _assign(macro, values)
    db.session.add(macro)
    db.session.flush()
    return macro


def update_macro(
    macro: Macro, values: MacroValues, *, actor: User, expected_version: int | None
) -> Macro:
    """Save an edited macro (``macro.tag_actions`` must be loaded).

    :raises StaleMacroError: someone saved it since ``expected_version``.
    :raises InvalidMacroError: a value breaks a rule.
    """
    if expected_version is not None and expected_version != macro.version:
        raise StaleMacroError(
            "Another admin saved this macro since you opened it; your text is kept below — "
            "compare with the saved one (open it in a new tab) and save again."
        )
    values = _check(values, exclude_id=macro.id)
    _assign(macro, values)
    macro.updated_by_id = actor.id
    db.session.flush()
    return macro


def _assign(macro: Macro, values: MacroValues) -> None:
    macro.name, macro.body, macro.is_internal = values.name, values.body, values.is_internal
    macro.set_status, macro.set_priority = values.set_status, values.set_priority
    macro.assign, macro.assign_user_id = values.assign, values.assign_user_id
    wanted = {i: True for i in values.add_tag_ids} | {i: False for i in values.remove_tag_ids}
    kept = []
    for action in macro.tag_actions:
        if action.tag_id in wanted:
            action.adds = wanted.pop(action.tag_id)
            kept.append(action)
    kept += [MacroTag(tag_id=tag_id, adds=add) for tag_id, add in wanted.items()]
    macro.tag_actions = sorted(kept, key=lambda a: a.tag_id)


def delete_macro(macro: Macro) -> None:
    """Delete a macro (the tickets it changed keep their history in the audit log)."""
    db.session.delete(macro)
    db.session.flush()


def get_macro(macro_id: int | str | None) -> Macro | None:
    """Return the macro with its tag actions, or None for a missing or malformed id."""
    parsed = parse_id(str(macro_id)) if macro_id is not None else None
    if parsed is None:
        return None
    stmt = sa.select(Macro).where(Macro.id == parsed).options(selectinload(Macro.tag_actions))
    return db.session.scalars(stmt).one_or_none()


# Applying


def context_for(ticket: Ticket, agent: User, *, status: TicketStatus | None = None,
                priority: TicketPriority | None = None) -> dict[str, Any]:  # fmt: skip
    """Return the placeholder values for ``ticket`` as ``agent`` sees it."""
    status, priority = status or ticket.status, priority or ticket.priority
    requester = ticket.requester if ticket.requester_id is not None else None
    return {
        "ticket": placeholders.TicketFields(
            ticket.number, ticket.reference, ticket.title, status.label, priority.label
        ),
        "agent": placeholders.AgentFields(agent.full_name, agent.full_name.split(" ")[0]),
        # Tickets from before customers existed have no requester: empty, not an error.
        "customer_name": requester.display_name if requester is not None else "",
        "customer_email": requester.email if requester is not None else "",
    }


def render_body(macro: Macro, ticket: Ticket, agent: User) -> str:
    """Return the macro's reply text filled in for ``ticket`` (as it will be after it)."""
    return placeholders.render(
        macro.body,
        context_for(ticket, agent, status=macro.set_status, priority=macro.set_priority),
    )


def planned_edit(macro: Macro, ticket: Ticket, actor: User) -> TicketEdit:
    """Return the ticket edit ``macro`` makes (``ticket.tags`` loaded)."""
    changes: dict[str, Any] = {}
    if macro.set_status is not None:
        changes["status"] = macro.set_status
    if macro.set_priority is not None:
        changes["priority"] = macro.set_priority
    if macro.assign == AssignMode.ME:
        changes["assignee"] = actor
    elif macro.assign == AssignMode.NOBODY:
        changes["assignee"] = None
    elif macro.assign == AssignMode.USER:
        changes["assignee"] = macro.assign_user
    if macro.tag_actions:
        removed = set(macro.remove_tag_ids)
        tags = [t for t in ticket.tags if t.id not in removed]
        have = {t.id for t in tags}
        tags += [a.tag for a in macro.tag_actions if a.adds and a.tag_id not in have]
        changes["tags"] = tags
    return TicketEdit(**changes)


@dataclass
class Applied:
    """What applying a macro to one ticket did."""

    changed: set[str] = field(default_factory=set)
    comment: Comment | None = None


def apply_macro(
    ticket: Ticket,
    macro: Macro,
    *,
    actor: User,
    body: str | None = None,
    is_internal: bool = False,
    expected_version: int | None = None,
) -> Applied:
    """Apply ``macro`` to ``ticket``: its reply and its changes, in the caller's transaction.

    :param body: the reply as the agent edited it; None sends the macro's own text.
    :param is_internal: the agent asked for an internal note; a macro marked internal
        always writes an internal note (its text was written for staff eyes).
    :param expected_version: the version the agent saw; a macro that changes fields is
        refused (:class:`tickets.StaleTicketError`) when the ticket moved on since.
    :raises tickets.TicketClosedError: the ticket is closed and the macro does not reopen it.
    """
    edit = planned_edit(macro, ticket, actor)
    state = tickets.state_of(ticket)
    changed = rules.changed_fields(state, edit)
    if changed and rules.is_stale(state, expected_version=expected_version):
        raise tickets.StaleTicketError(ticket)
    text = render_body(macro, ticket, actor) if body is None else body
    reopening = rules.reopens(state, changed)
    touched = changed | ({"comment"} if text.strip() else set())
    if not reopening and rules.closed_refuses(state, touched):
        raise tickets.TicketClosedError(
            f"{ticket.reference} is closed; this macro does not reopen it."
        )
    result = Applied()
    if reopening:  # a closed ticket takes nothing else until it is open again
        result.changed |= tickets.update_ticket(ticket, TicketEdit(status=edit.status), actor=actor)
        edit = edit.without("status")
    if text.strip():  # before a closing status makes the ticket read-only
        internal = is_internal or macro.is_internal
        result.comment = tickets.add_comment(ticket, author=actor, body=text, is_internal=internal)
    result.changed |= tickets.update_ticket(ticket, edit, actor=actor)
    return result


def load_for_apply(macro_id: int) -> Macro | None:
    """Return the macro with what applying it needs (tag actions and their tags, people)."""
    stmt = (
        sa.select(Macro)
        .where(Macro.id == macro_id)
        .options(
            selectinload(Macro.tag_actions).joinedload(MacroTag.tag),
            selectinload(Macro.assign_user),
        )
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(stmt).one_or_none()


def apply_bulk(
    ticket_ids: Iterable[int],
    macro: Macro,
    *,
    actor: User,
    versions: Mapping[int, int] | None = None,
    loaded_at: dt.datetime | None = None,
) -> BulkResult:
    """Apply ``macro`` (from :func:`load_for_apply`) to many tickets in one transaction.

    Rows are locked and judged as bulk actions do (:func:`tickets.bulk.select_rows`);
    each remaining ticket gets a full single application (rules, audit): a closed one the
    macro does not reopen, or one it would not change at all, is skipped and counted.

    :raises InvalidTicketError: no selection, or more than :data:`BULK_LIMIT` tickets.
    """
    ids = check_selection(ticket_ids, limit=BULK_LIMIT)
    rows, result = select_rows(ids, versions=versions, loaded_at=loaded_at)
    for chunk in chunks([row.id for row in rows]):
        stmt = (
            sa.select(Ticket)
            .where(Ticket.id.in_(chunk))
            .options(selectinload(Ticket.tags), joinedload(Ticket.requester))
            .order_by(Ticket.id)
            .execution_options(populate_existing=True)
        )
        for ticket in db.session.scalars(stmt):
            try:
                applied = apply_macro(ticket, macro, actor=actor)
            except tickets.TicketClosedError:
                result.skipped[Skip.CLOSED] += 1
                continue
            if applied.changed or applied.comment is not None:
                result.updated += 1
                result.numbers.append(ticket.number)
            else:
                result.skipped[Skip.UNCHANGED] += 1
    return result


def picker_options(ticket: Ticket, agent: User) -> list[tuple[Any, str | None]]:
    """Return ``(macro, its text filled in for ticket or None)`` for the comment box.

    One statement. A text that cannot be filled in (it cannot happen to a text saved
    through the form) gets None: the box still offers it, and choosing it explains why.
    """
    options = []
    for macro in for_picker():
        context = context_for(ticket, agent, status=macro.set_status, priority=macro.set_priority)
        try:
            text: str | None = placeholders.render(macro.body, context)
        except placeholders.PlaceholderError:
            text = None
        options.append((macro, text))
    return options
