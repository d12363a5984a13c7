"""Ticket rules: creating, editing, status changes, comments, optimistic locking.

Every path that changes a ticket (form, quick update, CLI, later bulk actions) goes
through these functions, so the rules live in one place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from supportdesk.attachments.models import FormToken
from supportdesk.audit.listeners import audited_bulk
from supportdesk.db import utcnow
from supportdesk.errors import ConflictError, DomainError
from supportdesk.extensions import db
from supportdesk.tags.models import Tag
from supportdesk.tickets import followers
from supportdesk.tickets.models import (
    Comment,
    Ticket,
    TicketPriority,
    TicketStatus,
    due_at_for,
)
from supportdesk.tickets.numbering import reserve_ticket_numbers
from supportdesk.users.models import User

EDITABLE_FIELDS = ("title", "description", "status", "priority", "assignee", "tags")
FINISHED = frozenset({TicketStatus.RESOLVED, TicketStatus.CLOSED})


class TicketClosedError(DomainError):
    """Closed tickets are read-only until reopened."""


class InvalidTicketError(DomainError):
    """The values break a rule (empty title, inactive assignee, …)."""


class StaleTicketError(ConflictError):
    """Someone else saved the ticket since the editor loaded it."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"{ticket.reference} was changed by someone else.")
        self.ticket = ticket


def create_ticket(
    *,
    title: str,
    description: str,
    creator: User,
    priority: TicketPriority = TicketPriority.MEDIUM,
    status: TicketStatus = TicketStatus.OPEN,
    assignee: User | None = None,
    tags: Iterable[Tag] = (),
) -> Ticket:
    """Create a ticket with the next number.

    :raises InvalidTicketError: a value breaks a rule.
    """
    now = utcnow()
    ticket = Ticket(
        number=reserve_ticket_numbers(db.session, 1)[0],
        created_at=now,
        due_at=due_at_for(TicketPriority(priority), now),
        title=_clean_title(title),
        description=_clean_description(description),
        priority=TicketPriority(priority),
        status=TicketStatus.OPEN,
        creator=creator,
        assignee=_check_assignee(assignee, current=None),
        updated_by=creator,
        tags=list(tags),
    )
    _apply_status(ticket, TicketStatus(status))
    db.session.add(ticket)
    db.session.flush()
    followers.follow([ticket.id], creator.id, seen=True)
    return ticket


def update_ticket(
    ticket: Ticket, *, actor: User, expected_version: int | None, changes: Mapping[str, Any]
) -> set[str]:
    """Apply ``changes`` (a subset of :data:`EDITABLE_FIELDS`) and return what changed.

    ``ticket.tags`` must be loaded when ``tags`` is among the changes.

    :raises StaleTicketError: ``expected_version`` is not the ticket's version.
    :raises TicketClosedError: the ticket is closed and the change is not a reopening.
    :raises InvalidTicketError: a value breaks a rule.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    if expected_version is not None and expected_version != ticket.version:
        raise StaleTicketError(ticket)
    current = editable_values(ticket, fields=changes.keys())
    wanted = {k: v for k, v in changes.items() if _comparable(k, v) != current[k]}
    if not wanted:
        return set()
    if ticket.is_closed and (set(wanted) != {"status"}):
        raise TicketClosedError(
            f"{ticket.reference} is closed; reopen it (change its status) before editing it."
        )
    if "title" in wanted:
        ticket.title = _clean_title(wanted["title"])
    if "description" in wanted:
        ticket.description = _clean_description(wanted["description"])
    if "priority" in wanted:
        ticket.priority = TicketPriority(wanted["priority"])
        ticket.due_at = due_at_for(ticket.priority, ticket.created_at)
    if "assignee" in wanted:
        ticket.assignee = _check_assignee(wanted["assignee"], current=ticket.assignee_id)
        if ticket.assignee is not None:
            followers.follow([ticket.id], ticket.assignee.id)
    if "tags" in wanted:
        ticket.tags = sorted(wanted["tags"], key=lambda t: t.name.lower())
    if "status" in wanted:
        _apply_status(ticket, TicketStatus(wanted["status"]))
    ticket.updated_by = actor
    ticket.updated_at = utcnow()
    db.session.flush()  # the version check in SQL: a concurrent writer raises StaleDataError
    return set(wanted)


def change_status(ticket: Ticket, status: TicketStatus, *, actor: User) -> bool:
    """Move a ticket to ``status`` under the status rules; return whether it changed."""
    return bool(
        update_ticket(ticket, actor=actor, expected_version=None, changes={"status": status})
    )


def resolved_at_after(
    new_status: TicketStatus, resolved_at: dt.datetime | None, now: dt.datetime
) -> dt.datetime | None:
    """Return ``resolved_at`` after moving to ``new_status``: the one status rule.

    Resolving (or closing) stamps it; reopening clears it; resolved -> closed keeps it.
    Single edits and bulk actions both call this.
    """
    if new_status in FINISHED:
        return resolved_at or now
    return None


def _apply_status(ticket: Ticket, status: TicketStatus) -> None:
    ticket.resolved_at = resolved_at_after(status, ticket.resolved_at, utcnow())
    ticket.status = status


def add_comment(ticket: Ticket, *, author: User, body: str, is_internal: bool) -> Comment:
    """Append a public reply or internal note. Comments never conflict: they only append.

    :raises TicketClosedError: the ticket is closed.
    :raises InvalidTicketError: the body is empty.
    """
    if ticket.is_closed:
        raise TicketClosedError(f"{ticket.reference} is closed; reopen it to comment.")
    body = body.strip()
    if not body:
        raise InvalidTicketError("A comment needs some text.")
    comment = Comment(ticket_id=ticket.id, author=author, body=body, is_internal=is_internal)
    db.session.add(comment)
    db.session.flush()
    # The ticket shows activity (sort by "updated") without a new version: a comment must
    # not turn a colleague's open edit form into a conflict. The first public reply is
    # stamped in the same statement.
    values: dict[str, Any] = {"updated_at": comment.created_at}
    if not is_internal:
        values["first_reply_at"] = sa.func.coalesce(Ticket.first_reply_at, comment.created_at)
    with audited_bulk():  # fields the audit trail leaves out (the comment itself is audited)
        db.session.execute(
            sa.update(Ticket)
            .where(Ticket.id == ticket.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    followers.follow([ticket.id], author.id, seen=True)
    return comment


def _clean_title(title: str) -> str:
    title = " ".join((title or "").split())
    if not title:
        raise InvalidTicketError("A ticket needs a title.")
    if len(title) > 200:
        raise InvalidTicketError("The title can have at most 200 characters.")
    return title


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if not description:
        raise InvalidTicketError("A ticket needs a description.")
    return description


def _check_assignee(assignee: User | None, *, current: int | None) -> User | None:
    # An inactive user may stay assigned (history), but nobody can newly assign one.
    if assignee is not None and not assignee.is_active and assignee.id != current:
        raise InvalidTicketError(f"{assignee.full_name} is not active and cannot be assigned.")
    return assignee


# Conflict support: what each field looked like when the editor loaded the form.


def editable_values(ticket: Ticket, *, fields: Iterable[str] = EDITABLE_FIELDS) -> dict[str, str]:
    """Return the ticket's editable fields as comparable strings.

    Reading ``tags`` needs the collection loaded; leave it out of ``fields`` otherwise.
    """
    getters = {
        "title": lambda: ticket.title,
        "description": lambda: ticket.description,
        "status": lambda: ticket.status.value,
        "priority": lambda: ticket.priority.value,
        "assignee": lambda: "" if ticket.assignee_id is None else str(ticket.assignee_id),
        "tags": lambda: _comparable("tags", ticket.tags),
    }
    return {name: getters[name]() for name in fields}


def _comparable(field: str, value: Any) -> str:
    if field == "assignee":
        return "" if value is None else str(value.id)
    if field == "tags":
        return ",".join(str(t.id) for t in sorted(value, key=lambda t: t.id))
    if field in ("status", "priority"):
        return str(getattr(value, "value", value))
    if field == "title":
        return " ".join((value or "").split())
    return (value or "").strip()


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def fingerprints(values: Mapping[str, str]) -> str:
    """Return a compact token of each field's value (travels in the edit form)."""
    return json.dumps(
        {k: _fingerprint(v) for k, v in values.items()},
        separators=(",", ":"),
        sort_keys=True,
    )


@dataclass(frozen=True)
class ConflictReport:
    """What happened between loading a form and saving it."""

    theirs: dict[str, str]  # fields someone else changed: their current value
    mine: set[str]  # fields this editor changed
    both: set[str]  # changed by both (this editor's value is kept in the form)
    merged: dict[str, str]  # the form's new values: current, with this editor's changes


def explain_conflict(
    ticket: Ticket, *, original: str | None, submitted: Mapping[str, str]
) -> ConflictReport:
    """Compare the editor's form with the ticket as it is now.

    Without a readable ``original`` token every differing field counts as this editor's
    change, so nothing typed is lost.
    """
    current = editable_values(ticket)
    try:
        base = json.loads(original or "")
        if not isinstance(base, dict):
            raise ValueError
    except ValueError:
        base = {}

    # Mine: fields the editor changed from what they loaded, and that differ from now.
    mine = {
        f
        for f, value in submitted.items()
        if f in current
        and value != current[f]
        and (f not in base or _fingerprint(value) != base[f])
    }
    theirs = {f: current[f] for f in current if f in base and _fingerprint(current[f]) != base[f]}
    merged = {f: (submitted[f] if f in mine else current[f]) for f in current}
    return ConflictReport(theirs=theirs, mine=mine, both=mine & set(theirs), merged=merged)


def resolve_form_values(
    *,
    assignee_id: int | None,
    tag_ids: Iterable[int],
    new_tag_names: str = "",
    may_create_tags: bool = False,
) -> tuple[User | None, list[Tag]]:
    """Turn a form's assignee id and tag ids (plus new tag names) into objects.

    :raises InvalidTicketError: an id does not exist, or new tags are not allowed.
    """
    from supportdesk.tags.service import resolve_tag_names

    assignee = None
    if assignee_id is not None:
        assignee = db.session.get(User, assignee_id)
        if assignee is None:
            raise InvalidTicketError("That assignee does not exist.")
    wanted = sorted(set(tag_ids))
    tags = list(db.session.scalars(sa.select(Tag).where(Tag.id.in_(wanted)))) if wanted else []
    if len(tags) != len(wanted):
        raise InvalidTicketError("One of the tags no longer exists; reload the page.")
    if new_tag_names.strip():
        if not may_create_tags:
            raise InvalidTicketError("Only admins can create tags.")
        tags.extend(t for t in resolve_tag_names(new_tag_names) if t not in tags)
    return assignee, tags


def delete_ticket(ticket: Ticket, *, actor: User) -> None:
    """Move a ticket to the trash (soft delete); its files stay until a purge."""
    if ticket.deleted_at is None:
        ticket.deleted_at = utcnow()
        ticket.deleted_by = actor
        db.session.flush()


def restore_ticket(ticket: Ticket, *, actor: User) -> None:
    """Take a ticket out of the trash."""
    if ticket.deleted_at is not None:
        ticket.deleted_at = None
        ticket.deleted_by = None
        ticket.updated_by = actor
        db.session.flush()


def purge_ticket(ticket: Ticket) -> None:
    """Delete a ticket for good, with its comments, tag links and attachment rows.

    Stored files are swept afterwards by ``sweep_unreferenced_files`` (another ticket may
    share a file's content).
    """
    db.session.delete(ticket)
    db.session.flush()


# One-time form tokens: a doubled submit (double click, browser retry, proxy resend)
# creates one ticket or comment; the replay is sent to what the first one created.

FORM_TOKEN_LENGTH = 32


def new_form_token() -> str:
    """Return a fresh token for a create form."""
    return secrets.token_hex(FORM_TOKEN_LENGTH // 2)


def claim_form_token(token: str | None, *, kind: str) -> FormToken | None:
    """Claim ``token`` in this transaction; return the earlier claim if it was used.

    A missing or malformed token (a script posting without one) gets no protection and
    ``None``. Concurrent claims of one token wait on its primary key until the first
    transaction ends; if it committed, the latecomers get its row.
    """
    if (
        not token
        or len(token) != FORM_TOKEN_LENGTH
        or not all(c in "0123456789abcdef" for c in token)
    ):
        return None
    existing = db.session.get(FormToken, token)
    if existing is None:
        try:
            with db.session.begin_nested():
                db.session.add(FormToken(token=token, kind=kind))
            return None
        except sa.exc.IntegrityError:  # a concurrent submit of the same form won the race
            existing = db.session.get(FormToken, token, populate_existing=True)
    if existing is None or existing.kind != kind:
        raise InvalidTicketError("This form was already used; reload the page.")
    return existing


def record_form_result(token: str | None, *, ticket_id: int, comment_id: int | None = None) -> None:
    """Remember what the form with ``token`` created."""
    if token is None:
        return
    claimed = db.session.get(FormToken, token)
    if claimed is not None:
        claimed.ticket_id, claimed.comment_id = ticket_id, comment_id
        db.session.flush()
