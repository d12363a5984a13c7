"""What the staff workspace's forms do: one service call per POST.

Each function takes a typed value built once from a form, runs the whole step (one-time
form token, the ticket rulebook, attachments, macros) in the caller's transaction and
returns what the page needs to say. Views commit once and render; they hold no rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from supportdesk.attachments import service as attachments
from supportdesk.customers import service as customers
from supportdesk.customers.models import Customer
from supportdesk.db import parse_id
from supportdesk.errors import DomainError
from supportdesk.macros import service as macros
from supportdesk.macros.models import Macro
from supportdesk.tags.models import Tag
from supportdesk.tickets import formtokens, queries, service
from supportdesk.tickets.bulk import BULK_LIMIT, BulkAction, BulkResult, bulk_update
from supportdesk.tickets.models import Comment, Ticket, TicketPriority, TicketStatus
from supportdesk.tickets.rules import UNSET, InvalidTicketError, TicketEdit, Unset
from supportdesk.users.models import User


@dataclass(frozen=True)
class TicketValues:
    """The ticket form's values, typed (ids are resolved by the service)."""

    title: str
    description: str
    status: TicketStatus
    priority: TicketPriority
    assignee_id: int | None
    # "Name <email>" or a bare address; None: the form did not have the field (a script
    # posting an edit without it keeps the ticket's requester).
    requester: str | None = None
    cc: str | None = None  # addresses separated by commas; None: as above
    tag_ids: Sequence[int] = ()
    new_tag_names: str = ""
    # A due time set by hand, None to follow the SLA, UNSET: the form did not have it.
    due: dt.datetime | None | Unset = UNSET


@dataclass(frozen=True)
class Submitted:
    """What a create or reply form did: the ticket, and the comment if one was added."""

    ticket_id: int
    comment_id: int | None = None
    replayed: bool = False  # the same form was posted before: nothing new was created
    comment: Comment | None = None
    changed: set[str] = field(default_factory=set)


def _resolve(values: TicketValues, actor: User) -> tuple[User | None, list[Tag]]:
    return service.resolve_form_values(
        assignee_id=values.assignee_id, tag_ids=values.tag_ids,
        new_tag_names=values.new_tag_names, may_create_tags=actor.is_admin,
    )  # fmt: skip


def _people(values: TicketValues) -> tuple[Customer | None, list[Customer] | None]:
    """Return the requester and the CCs named in the form (customers created when new).

    None for a field the form did not carry.
    :raises InvalidCustomerError: an address is not one.
    """
    requester = None
    if values.requester is not None:
        if not values.requester.strip():
            raise InvalidTicketError("Who is asking? Give the requester's email address.")
        requester = customers.find_or_create(customers.parse_address(values.requester))
    ccs = None
    if values.cc is not None:
        ccs = customers.find_or_create_all(customers.parse_addresses(values.cc))
    return requester, ccs


def _edit_of(values: TicketValues, actor: User) -> TicketEdit:
    assignee, tags = _resolve(values, actor)
    requester, ccs = _people(values)
    people: dict[str, Any] = {}
    if requester is not None:
        people["requester"] = requester
    if ccs is not None:
        people["ccs"] = ccs
    if values.due is not UNSET:
        people["due_at"] = values.due
    return TicketEdit(title=values.title, description=values.description, status=values.status,
                      priority=values.priority, assignee=assignee, tags=tags,
                      **people)  # fmt: skip


def submit_ticket(
    values: TicketValues,
    *,
    actor: User,
    files: list[attachments.PendingFile],
    form_token: str | None,
) -> Submitted:
    """Create a ticket with its attachments, once per form (a replay gets the first one).

    The pending files are discarded when the ticket is not created.
    """
    try:
        claimed = formtokens.claim_form_token(form_token, kind="ticket")
        if claimed is not None and claimed.ticket_id is not None:
            attachments.discard(files)
            return Submitted(claimed.ticket_id, replayed=True)
        assignee, tags = _resolve(values, actor)
        requester, ccs = _people(values)
        if requester is None:
            raise InvalidTicketError("Who is asking? Give the requester's email address.")
        ticket = service.create_ticket(
            title=values.title, description=values.description, creator=actor,
            priority=values.priority, status=values.status, assignee=assignee, tags=tags,
            requester=requester, ccs=ccs or (),
            due_at=values.due if values.due is not UNSET else None,
        )  # fmt: skip
        attachments.attach_files(files, ticket_id=ticket.id, uploader=actor)
        formtokens.record_form_result(form_token, ticket_id=ticket.id)
    except BaseException:
        attachments.discard(files)
        raise
    return Submitted(ticket.id)


def save_edit(
    ticket: Ticket, values: TicketValues, *, actor: User, expected_version: int | None
) -> set[str]:
    """Save the edit form (or the quick update) under the rulebook; return what changed.

    :raises service.StaleTicketError: someone saved the ticket since ``expected_version``.
    """
    edit = _edit_of(values, actor)
    return service.update_ticket(ticket, edit, actor=actor, expected_version=expected_version)


def patch_ticket(
    ticket: Ticket, changes: dict[str, Any], *, actor: User, expected_version: int
) -> set[str]:
    """Apply a partial update (the API's PATCH) under the rulebook; return what changed.

    ``changes`` holds only the fields given: title, description, status, priority,
    assignee_id (None: unassign), tag_ids, requester ("Name <email>"), cc (addresses),
    due_at (a time set by hand; None: the SLA's).

    :raises service.StaleTicketError: the ticket is no longer at ``expected_version``.
    """
    values: dict[str, Any] = {k: changes[k] for k in ("title", "description") if k in changes}
    if "status" in changes:
        values["status"] = TicketStatus(changes["status"])
    if "priority" in changes:
        values["priority"] = TicketPriority(changes["priority"])
    if "due_at" in changes:
        values["due_at"] = changes["due_at"]
    if "assignee_id" in changes or "tag_ids" in changes:
        assignee, tags = service.resolve_form_values(
            assignee_id=changes.get("assignee_id"), tag_ids=changes.get("tag_ids", ())
        )
        if "assignee_id" in changes:
            values["assignee"] = assignee
        if "tag_ids" in changes:
            values["tags"] = tags
    requester, ccs = _people(TicketValues(
        "", "", TicketStatus.OPEN, TicketPriority.MEDIUM, None,
        requester=changes.get("requester"),
        cc=", ".join(changes["cc"]) if "cc" in changes else None,
    ))  # fmt: skip
    if requester is not None:
        values["requester"] = requester
    if ccs is not None:
        values["ccs"] = ccs
    return service.update_ticket(ticket, TicketEdit(**values), actor=actor,
                                 expected_version=expected_version)  # fmt: skip


@dataclass(frozen=True)
class ReplyValues:
    """The reply box: text, internal or not, an optional macro, the version seen."""

    body: str
    is_internal: bool
    macro: Macro | None = None
    version: int | None = None
    then_status: TicketStatus | None = None  # "Send and set status", in the same transaction


def submit_reply(
    ticket: Ticket,
    reply: ReplyValues,
    *,
    actor: User,
    files: list[attachments.PendingFile],
    form_token: str | None,
) -> Submitted:
    """Add a reply or note (with a macro: its changes too) and its files, once per form.

    :raises service.StaleTicketError: a macro would change a ticket that moved on.
    :raises DomainError: a rule refused it (closed ticket, empty reply, files alone).
    """
    try:
        claimed = formtokens.claim_form_token(form_token, kind="comment")
        if claimed is not None and claimed.ticket_id is not None:
            attachments.discard(files)
            return Submitted(claimed.ticket_id, claimed.comment_id, replayed=True)
        changed: set[str] = set()
        if reply.macro is None:
            comment: Comment | None = service.add_comment(
                ticket, author=actor, body=reply.body, is_internal=reply.is_internal
            )
        else:
            applied = macros.apply_macro(
                ticket, reply.macro, actor=actor, body=reply.body.strip() or None,
                is_internal=reply.is_internal, expected_version=reply.version,
            )  # fmt: skip
            comment, changed = applied.comment, applied.changed
        if comment is not None and reply.then_status is not None:
            changed |= service.update_ticket(ticket, TicketEdit(status=reply.then_status),
                                             actor=actor)  # fmt: skip
        if comment is not None:
            attachments.attach_files(files, ticket_id=ticket.id, comment_id=comment.id,
                                     uploader=actor)  # fmt: skip
        elif files:
            raise InvalidTicketError("Attachments need a reply to go with.")
        formtokens.record_form_result(
            form_token, ticket_id=ticket.id, comment_id=comment.id if comment else None
        )
    except BaseException:
        attachments.discard(files)
        raise
    return Submitted(ticket.id, comment.id if comment else None, comment=comment,
                     changed=changed)  # fmt: skip


@dataclass(frozen=True)
class BulkRequest:
    """A bulk bar request: the action, its value, and the selection as the list showed it."""

    action: str
    value: str
    ids: Sequence[int] = ()
    versions: dict[int, int] = field(default_factory=dict)
    loaded_at: dt.datetime | None = None
    all_matching: queries.TicketFilters | None = None  # every ticket these filters match


class ListTooOldError(DomainError):
    """An "all matching" selection came without the time the list was loaded."""


def submit_bulk(request: BulkRequest, *, actor: User) -> BulkResult:
    """Apply a bulk action or a macro to the selected (or all matching) tickets."""
    ids = list(request.ids)
    if request.all_matching is not None:
        if request.loaded_at is None:
            raise ListTooOldError("The list was too old to act on; reload it and try again.")
        ids = queries.matching_ids(request.all_matching, user_id=actor.id, limit=BULK_LIMIT + 1)
    if request.action == "macro":
        macro = macros.load_for_apply(parse_id(request.value) or 0)
        if macro is None:
            raise macros.InvalidMacroError("Choose an existing macro.")
        return macros.apply_bulk(ids, macro, actor=actor, versions=request.versions,
                                 loaded_at=request.loaded_at)  # fmt: skip
    return bulk_update(ids, action=request.action, value=request.value, actor=actor,
                       versions=request.versions, loaded_at=request.loaded_at)  # fmt: skip


BULK_ACTIONS = [
    (BulkAction.STATUS.value, "Set status"),
    (BulkAction.ASSIGN.value, "Assign to"),
    (BulkAction.ADD_TAG.value, "Add tag"),
    (BulkAction.REMOVE_TAG.value, "Remove tag"),
    (BulkAction.DELETE.value, "Delete"),
    ("macro", "Apply macro"),
]
