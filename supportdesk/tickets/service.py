"""Ticket writes: creating, editing, comments, trash and purge, under the rulebook.

The decisions are pure functions in :mod:`tickets.rules`; this module applies them to
loaded tickets. Single edits, macros, merge, take next and the CLI call these functions;
bulk actions apply the same rules set-based (:mod:`tickets.bulk`). A new reply or ticket
is announced (:mod:`supportdesk.events`) so that email goes out with the same commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app

from supportdesk import events
from supportdesk.audit.listeners import audited_bulk
from supportdesk.customers.models import Customer
from supportdesk.db import utcnow
from supportdesk.errors import ConflictError, DomainError
from supportdesk.extensions import db
from supportdesk.tags.models import Tag
from supportdesk.tags.service import resolve_tag_names
from supportdesk.tickets import followers, rules
from supportdesk.tickets.models import (
    Comment,
    Ticket,
    TicketPriority,
    TicketStatus,
    due_at_for,
)
from supportdesk.tickets.numbering import reserve_ticket_numbers
from supportdesk.tickets.rules import InvalidTicketError
from supportdesk.users.models import User


class TicketClosedError(DomainError):
    """Closed tickets are read-only until reopened."""


class StaleTicketError(ConflictError):
    """Someone else saved the ticket since the editor loaded it."""

    def __init__(self, ticket: Ticket) -> None:
        super().__init__(f"{ticket.reference} was changed by someone else.")
        self.ticket = ticket


def check_length(text: str, what: str) -> str:
    """Refuse a description or comment longer than SUPPORTDESK_MAX_TEXT_CHARS.

    :raises InvalidTicketError: it is longer.
    """
    limit = int(current_app.config["MAX_TEXT_CHARS"])
    if len(text) > limit:
        raise InvalidTicketError(
            f"{what} can have at most {limit:,} characters (this one has {len(text):,}); "
            "attach a long log as a file instead."
        )
    return text


def state_of(ticket: Ticket) -> rules.TicketState:
    """Return what the rules need of a loaded ticket (its tags only if loaded)."""
    tags = ticket.__dict__.get("tags")
    ccs = ticket.__dict__.get("ccs")
    return rules.TicketState(
        status=ticket.status, version=ticket.version, updated_at=ticket.updated_at,
        resolved_at=ticket.resolved_at, assignee_id=ticket.assignee_id, title=ticket.title,
        description=ticket.description, priority=ticket.priority,
        tag_ids=frozenset(t.id for t in tags) if tags is not None else None,
        requester_id=ticket.requester_id,
        cc_ids=frozenset(c.id for c in ccs) if ccs is not None else None,
        due_at=ticket.due_at, due_is_manual=bool(ticket.due_is_manual),
    )  # fmt: skip


def create_ticket(
    *,
    title: str,
    description: str,
    creator: User,
    requester: Customer,
    ccs: Iterable[Customer] = (),
    priority: TicketPriority = TicketPriority.MEDIUM,
    status: TicketStatus = TicketStatus.OPEN,
    assignee: User | None = None,
    tags: Iterable[Tag] = (),
    creator_follows: bool = True,
    via_email: dict[str, Any] | None = None,
    due_at: dt.datetime | None = None,
) -> Ticket:
    """Create a ticket with the next number.

    ``due_at`` is a due time set by hand (kept through priority changes); without one the
    priority's SLA sets it.

    ``creator_follows=False`` for a ticket created on no one's behalf (mail in: the
    desk's mail account is its creator of record and follows nothing).

    :raises InvalidTicketError: a value breaks a rule.
    """
    now = utcnow()
    manual_due = rules.clean_due(due_at, now=now)
    ticket = Ticket(
        number=reserve_ticket_numbers(db.session, 1)[0],
        created_at=now,
        due_at=manual_due or due_at_for(TicketPriority(priority), now),
        due_is_manual=manual_due is not None,
        title=rules.clean_title(title),
        description=check_length(rules.clean_description(description), "A description"),
        priority=TicketPriority(priority),
        status=TicketStatus(status),
        creator=creator,
        assignee=_check_assignee(assignee, current=None),
        resolved_at=rules.resolved_at_after(TicketStatus(status), None, now),
        updated_by=creator,
        tags=list(tags),
        requester=requester,
        ccs=rules.ccs_without_requester(requester.id, ccs),
        via_email=via_email,
    )
    db.session.add(ticket)
    db.session.flush()
    if creator_follows:
        followers.follow([ticket.id], creator.id, seen=True)
    events.publish(events.TICKET_CREATED, ticket=ticket)
    return ticket


def update_ticket(
    ticket: Ticket, edit: rules.TicketEdit, *, actor: User, expected_version: int | None = None
) -> set[str]:
    """Apply ``edit`` under the rulebook and return the names of the fields that changed.

    ``ticket.tags`` must be loaded when the edit sets ``tags``.

    :raises StaleTicketError: ``expected_version`` is not the ticket's version.
    :raises TicketClosedError: the ticket is closed and the change is not a reopening.
    :raises InvalidTicketError: a value breaks a rule.
    """
    state = state_of(ticket)
    wanted = rules.changed_fields(state, edit)
    reason = rules.skip_reason(state, wanted, expected_version=expected_version)
    if reason == rules.Skip.CHANGED:
        raise StaleTicketError(ticket)
    if reason == rules.Skip.UNCHANGED:
        return set()
    if reason == rules.Skip.CLOSED:
        raise TicketClosedError(
            f"{ticket.reference} is closed; reopen it (change its status) before editing it."
        )
    values = edit.given()
    if "title" in wanted:
        ticket.title = rules.clean_title(values["title"])
    if "description" in wanted:
        ticket.description = check_length(rules.clean_description(values["description"]),
                                          "A description")  # fmt: skip
    if "priority" in wanted:
        ticket.priority = TicketPriority(values["priority"])
        if rules.due_follows_priority(state.due_is_manual, wanted):
            ticket.due_at = due_at_for(ticket.priority, ticket.created_at)
    if "due_at" in wanted:
        due = rules.clean_due(values["due_at"], now=utcnow())
        ticket.due_is_manual = due is not None
        ticket.due_at = due if due is not None else due_at_for(ticket.priority, ticket.created_at)
    if "assignee" in wanted:
        ticket.assignee = _check_assignee(values["assignee"], current=ticket.assignee_id)
    if "tags" in wanted:
        ticket.tags = sorted(values["tags"], key=lambda t: t.name.lower())
    if "requester" in wanted:
        ticket.requester = values["requester"]
    if "ccs" in wanted or ("requester" in wanted and state.cc_ids is not None):
        ccs = values.get("ccs", ticket.ccs)
        requester_id = values["requester"].id if "requester" in wanted else ticket.requester_id
        ticket.ccs = sorted(rules.ccs_without_requester(requester_id, ccs),
                            key=lambda c: c.email.lower())  # fmt: skip
    if "status" in wanted:
        status = TicketStatus(values["status"])
        ticket.resolved_at = rules.resolved_at_after(status, ticket.resolved_at, utcnow())
        ticket.status = status
    ticket.updated_by = actor
    ticket.updated_at = utcnow()
    db.session.flush()  # the version check in SQL: a concurrent writer raises StaleDataError
    if "assignee" in wanted and ticket.assignee is not None:
        # After the flush: its statement would autoflush the ticket half-edited, bumping the
        # version twice for one save (the rulebook test caught it: bulk bumps once).
        followers.follow([ticket.id], ticket.assignee.id)
    events.publish(events.TICKETS_UPDATED, ticket_ids=[ticket.id], changed=set(wanted))
    return wanted


def change_status(ticket: Ticket, status: TicketStatus, *, actor: User) -> bool:
    """Move a ticket to ``status`` under the status rules; return whether it changed."""
    return bool(update_ticket(ticket, rules.TicketEdit(status=status), actor=actor))


def add_comment(
    ticket: Ticket,
    *,
    author: User,
    body: str,
    is_internal: bool,
    customer: Customer | None = None,
    via_email: dict[str, Any] | None = None,
    quoted: str | None = None,
) -> Comment:
    """Append a public reply or internal note. Comments never conflict: they only append.

    ``customer`` marks a customer's reply (by email): ``author`` is then the desk's mail
    account, which follows nothing, and the reply does not count as the desk's first.

    :raises TicketClosedError: the ticket is closed.
    :raises InvalidTicketError: the body is empty.
    """
    if not rules.may_comment(state_of(ticket)):
        raise TicketClosedError(f"{ticket.reference} is closed; reopen it to comment.")
    body = body.strip()
    if not body:
        raise InvalidTicketError("A comment needs some text.")
    check_length(body, "A comment")
    comment = Comment(ticket_id=ticket.id, author=author, body=body, is_internal=is_internal,
                      customer=customer, via_email=via_email, quoted=quoted or None)  # fmt: skip
    db.session.add(comment)
    db.session.flush()
    # The ticket shows activity (sort by "updated") without a new version: a comment must
    # not turn a colleague's open edit form into a conflict. The first public reply is
    # stamped in the same statement.
    values: dict[str, Any] = {"updated_at": comment.created_at}
    if not is_internal and customer is None:
        values["first_reply_at"] = sa.func.coalesce(Ticket.first_reply_at, comment.created_at)
    with audited_bulk():  # fields the audit trail leaves out (the comment itself is audited)
        db.session.execute(
            sa.update(Ticket)
            .where(Ticket.id == ticket.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    if customer is None:
        followers.follow([ticket.id], author.id, seen=True)
    events.publish(events.COMMENT_ADDED, comment=comment, ticket=ticket)
    return comment


def add_customer_reply(
    ticket: Ticket,
    *,
    customer: Customer,
    account: User,
    body: str,
    via_email: dict[str, Any] | None = None,
    quoted: str | None = None,
) -> Comment:
    """Add a customer's reply as a public comment, reopening the ticket when it waited.

    ``account`` is the desk's mail account (the comment's author, the edit's actor);
    the audit context names the customer.

    :raises TicketClosedError: the ticket is closed (a reply there opens a follow-up).
    """
    status = rules.status_after_customer_reply(ticket.status)
    if status is not None:
        update_ticket(ticket, rules.TicketEdit(status=status), actor=account)
    return add_comment(ticket, author=account, body=body, is_internal=False, customer=customer,
                       via_email=via_email, quoted=quoted)  # fmt: skip


def _check_assignee(assignee: User | None, *, current: int | None) -> User | None:
    if assignee is not None and not rules.assignee_acceptable(
        assignee.is_active, assignee.id, current
    ):
        raise InvalidTicketError(f"{assignee.full_name} is not active and cannot be assigned.")
    return assignee


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
        events.publish(events.TICKETS_UPDATED, ticket_ids=[ticket.id], changed={"deleted"})


class RestoreRefusedError(DomainError):
    """Only admins restore, besides whoever deleted the ticket within seconds (Undo)."""


def restore_ticket(ticket: Ticket, *, actor: User) -> None:
    """Take a ticket out of the trash (admins; its deleter within UNDO_SECONDS).

    :raises RestoreRefusedError: this actor may not restore it (any more).
    """
    if ticket.deleted_at is not None and not rules.may_restore(
        deleted_by_id=ticket.deleted_by_id, deleted_at=ticket.deleted_at, user_id=actor.id,
        is_admin=actor.is_admin, now=utcnow(),
    ):  # fmt: skip
        raise RestoreRefusedError(
            f"{ticket.reference} can no longer be undone; an admin can restore it from the trash."
        )
    if ticket.deleted_at is not None:
        ticket.deleted_at = None
        ticket.deleted_by = None
        ticket.updated_by = actor
        db.session.flush()
        events.publish(events.TICKETS_UPDATED, ticket_ids=[ticket.id], changed={"restored"})


def purge_tickets(tickets: Iterable[Ticket]) -> None:
    """Delete trashed tickets for good, with their comments, tag links and attachment rows.

    Stored files are swept afterwards by ``sweep_unreferenced_files`` (another ticket may
    share a file's content).

    :raises InvalidTicketError: one of them is not in the trash (nothing is purged).
    """
    tickets = list(tickets)
    live = [t.reference for t in tickets if t.deleted_at is None]
    if live:
        raise InvalidTicketError(
            "Only tickets in the trash can be purged; delete these first: " + ", ".join(live)
        )
    for ticket in tickets:
        db.session.delete(ticket)
    db.session.flush()
