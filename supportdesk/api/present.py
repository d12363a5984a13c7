"""What the API answers: plain dicts of the desk's rows, in the schemas' shapes."""

from __future__ import annotations

from typing import Any

from supportdesk.audit.queries import Entry
from supportdesk.customers.models import Customer
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.tickets.queries import TicketRow
from supportdesk.users.models import ApiToken, User


def _customer_ref(customer: Customer | None) -> dict[str, Any] | None:
    if customer is None:
        return None
    return {"id": customer.id, "email": customer.email, "name": customer.name}


def summary(row: TicketRow) -> dict[str, Any]:
    """Show a list row (``tickets.queries.ListedTicket``)."""
    t = row.ticket
    assignee = (
        {"id": t.assignee_id, "name": t.assignee_name or ""} if t.assignee_id is not None else None
    )
    requester = (
        {"id": t.requester.id, "email": t.requester.email, "name": t.requester.name}
        if t.requester is not None
        else None
    )
    return {
        "number": t.number, "reference": t.reference, "title": t.title,
        "status": t.status.value, "priority": t.priority.value, "assignee": assignee,
        "requester": requester, "tags": [{"id": g.id, "name": g.name} for g in t.tags],
        "comment_count": row.comment_count, "due_at": t.due_at, "updated_at": t.updated_at,
        "overdue": t.is_overdue, "deleted": t.is_deleted, "version": t.version,
    }  # fmt: skip


def ticket(t: Ticket, *, comment_count: int) -> dict[str, Any]:
    """Show a loaded ticket (assignee, requester, CCs and tags loaded) in full."""
    assignee = {"id": t.assignee.id, "name": t.assignee.full_name} if t.assignee else None
    return {
        "number": t.number, "reference": t.reference, "title": t.title,
        "status": t.status.value, "priority": t.priority.value, "assignee": assignee,
        "requester": _customer_ref(t.requester),
        "tags": [{"id": g.id, "name": g.name} for g in t.tags],
        "comment_count": comment_count, "due_at": t.due_at, "updated_at": t.updated_at,
        "overdue": t.is_overdue, "deleted": t.deleted_at is not None, "version": t.version,
        "due_is_manual": t.due_is_manual,
        "description": t.description, "ccs": [_customer_ref(c) for c in t.ccs],
        "created_at": t.created_at, "resolved_at": t.resolved_at,
        "first_reply_at": t.first_reply_at,
    }  # fmt: skip


def comment(c: Comment) -> dict[str, Any]:
    """Show a reply or note (a customer's names the customer, not the desk's account)."""
    author = None if c.customer_id is not None else {"id": c.author.id, "name": c.author.full_name}
    return {"id": c.id, "body": c.body, "internal": c.is_internal, "author": author,
            "customer": _customer_ref(c.customer), "created_at": c.created_at}  # fmt: skip


def user(u: User) -> dict[str, Any]:
    """Show a staff member."""
    return {"id": u.id, "name": u.full_name, "email": u.email, "role": u.role.value,
            "active": u.is_active}  # fmt: skip


def customer(c: Customer) -> dict[str, Any]:
    """Show a customer."""
    return {"id": c.id, "email": c.email, "name": c.name, "organisation": c.organisation,
            "blocked": c.is_blocked}  # fmt: skip


def audit_entry(entry: Entry) -> dict[str, Any]:
    """Show an audit row; ``channel`` is where the change came from (web, api, cli…)."""
    log = entry.log
    return {
        "id": log.id, "occurred_at": log.occurred_at, "actor_id": log.actor_id,
        "actor": entry.actor_name, "channel": log.source, "action": log.action,
        "entity_type": log.entity_type, "entity_id": log.entity_id, "ticket_id": log.ticket_id,
        "changes": log.changes or {}, "request_id": log.request_id,
    }  # fmt: skip


def me(token: ApiToken) -> dict[str, Any]:
    """Show the token in use."""
    return {"user": user(token.user), "token_name": token.name, "scope": token.scope.value,
            "expires_at": token.expires_at}  # fmt: skip
