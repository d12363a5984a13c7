"""Reading the audit log: a ticket's timeline, the admin list, exports, replay."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.rendering import local_time
from supportdesk.users.models import User

PAGE_SIZE = 50
FIELD_LABELS = {"assignee_id": "assignee", "resolved_at": "resolved time",
                "deleted_at": "deleted time", "deleted_by_id": "deleted by",
                "due_at": "due time", "due_is_manual": "due time set by hand"}  # fmt: skip


@dataclass
class Entry:
    """An audit row with its actor's display name."""

    log: AuditLog
    actor_name: str


def ticket_history(ticket_id: int) -> list[Entry]:
    """Return every audit row about a ticket (its comments too), oldest first: 1 statement."""
    stmt = (
        sa.select(AuditLog, User.full_name)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .where(AuditLog.ticket_id == ticket_id)
        .order_by(AuditLog.id)
    )
    return [
        Entry(log, name or log.actor_label or "system") for log, name in db.session.execute(stmt)
    ]


def describe(entry: Entry, people: dict[int, str], tags: dict[int, str]) -> str:
    """Return a sentence such as "set priority high → urgent"."""
    log, changes = entry.log, entry.log.changes or {}

    def show(key: str, value: Any) -> str:
        if value is None:
            return "none"
        if key == "assignee_id":
            return people.get(value, f"user {value}")
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, str) and key.endswith("_at"):
            try:
                return local_time(dt.datetime.fromisoformat(value))  # in the reader's zone
            except ValueError:
                return value[:16].replace("T", " ")
        return str(value).replace("_", " ")

    if log.action == "ticket.created":
        return "created the ticket"
    if log.action in ("ticket.tag_added", "ticket.tag_removed"):
        ids = changes.get("tags", {}).get(
            "added" if log.action.endswith("added") else "removed", []
        )
        names = ", ".join(tags.get(i, f"#{i}") for i in ids)
        return ("added tag " if log.action.endswith("added") else "removed tag ") + names
    if log.action == "ticket.deleted":
        return "moved the ticket to the trash"
    if log.action == "ticket.restored":
        return "restored the ticket"
    if log.action == "comment.created":
        internal = (changes.get("is_internal") or {}).get("new")
        return "added an internal note" if internal else "replied"
    parts = []
    for key, change in changes.items():
        if not isinstance(change, dict) or "new" not in change:
            continue
        label = FIELD_LABELS.get(key, key)
        if key in ("description", "body"):
            parts.append(f"edited the {label}")
        else:
            parts.append(f"set {label} {show(key, change.get('old'))} → {show(key, change['new'])}")
    return "; ".join(parts) or log.action.replace(".", " ")


@dataclass
class AuditFilters:
    """Filters of the admin audit list."""

    actor_id: int | None = None
    action: str = ""
    entity_type: str = ""
    entity_id: int | None = None
    ticket_id: int | None = None
    request_id: str = ""
    since: dt.date | None = None
    until: dt.date | None = None

    def where(self) -> list[Any]:
        """Return the SQL conditions."""
        conditions = []
        if self.actor_id is not None:
            conditions.append(AuditLog.actor_id == self.actor_id)
        if self.action:
            conditions.append(AuditLog.action == self.action)
        if self.entity_type:
            conditions.append(AuditLog.entity_type == self.entity_type)
        if self.entity_id is not None:
            conditions.append(AuditLog.entity_id == self.entity_id)
        if self.ticket_id is not None:
            conditions.append(AuditLog.ticket_id == self.ticket_id)
        if self.request_id:
            conditions.append(AuditLog.request_id == self.request_id)
        if self.since:
            start = dt.datetime.combine(self.since, dt.time.min, tzinfo=dt.UTC)
            conditions.append(AuditLog.occurred_at >= start)
        if self.until:
            end = dt.datetime.combine(self.until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
            conditions.append(AuditLog.occurred_at < end)
        return conditions


def page(filters: AuditFilters, *, before_id: int | None = None, limit: int = PAGE_SIZE
         ) -> tuple[list[Entry], int | None]:  # fmt: skip
    """Return a page of entries, newest first, and the id to continue before (keyset)."""
    stmt = (
        sa.select(AuditLog, User.full_name)
        .outerjoin(User, User.id == AuditLog.actor_id)
        .where(*filters.where())
        .order_by(AuditLog.id.desc())
        .limit(limit + 1)
    )
    if before_id is not None:
        stmt = stmt.where(AuditLog.id < before_id)
    rows = [
        Entry(log, name or log.actor_label or "system") for log, name in db.session.execute(stmt)
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].log.id if more and rows else None)


def export(filters: AuditFilters, columns: Sequence[str]) -> Iterator[Any]:
    """Yield matching rows (plain rows of ``columns``) in id order, in constant memory.

    ``yield_per`` streams from a server-side cursor on PostgreSQL; plain rows, unlike ORM
    objects, are not kept in the session's identity map.
    """
    stmt = (
        sa.select(*[getattr(AuditLog, c) for c in columns])
        .where(*filters.where())
        .order_by(AuditLog.id)
        .execution_options(yield_per=1000)
    )
    yield from db.session.execute(stmt)


def rebuild_tickets(ticket_ids: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """Rebuild tickets' audited state from the log alone (purged ones vanish)."""
    states: dict[Any, dict[str, Any]] = {}
    stmt = (
        sa.select(AuditLog)
        .where(AuditLog.entity_type == "tickets")
        .order_by(AuditLog.id)
        .execution_options(yield_per=1000)
    )
    if ticket_ids is not None:
        stmt = stmt.where(AuditLog.entity_id.in_(ticket_ids))
    for log in db.session.scalars(stmt):
        changes = log.changes or {}
        if log.action == "ticket.created":
            state = {key: value["new"] for key, value in changes.items()}
            state["tags"] = set(state.get("tags") or [])
            states[log.entity_id] = state
        elif log.action == "ticket.purged":
            states.pop(log.entity_id, None)
        elif log.action == "ticket.tag_added":
            states[log.entity_id]["tags"].update(changes["tags"]["added"])
        elif log.action == "ticket.tag_removed":
            states[log.entity_id]["tags"].difference_update(changes["tags"]["removed"])
        else:
            for key, value in changes.items():
                states[log.entity_id][key] = value["new"]
    return states


def change_lines(changes: dict[str, Any] | None) -> list[str]:
    """Return an audit row's changes as readable lines: ``status: open → resolved``.

    Secrets read ``password: changed``; a long text says only that it was edited.
    """
    lines = []
    for key, change in (changes or {}).items():
        label = FIELD_LABELS.get(key, key).replace("_", " ")
        if isinstance(change, dict) and ("old" in change or "new" in change):
            old, new = change.get("old"), change.get("new")
            if any(isinstance(v, str) and len(v) > 80 for v in (old, new)):
                lines.append(f"{label}: edited")
            else:
                lines.append(f"{label}: {_shown(old)} → {_shown(new)}")
        elif isinstance(change, dict) and ("added" in change or "removed" in change):
            parts = [
                f"+{_shown(change.get('added'))}" if change.get("added") else "",
                f"−{_shown(change.get('removed'))}" if change.get("removed") else "",
            ]
            lines.append(f"{label}: " + " ".join(p for p in parts if p))
        else:
            lines.append(f"{label}: {_shown(change)}")
    return lines


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(v) for v in value) or "none"
    if isinstance(value, str) and len(value) >= 16 and value[10:11] == "T":
        return value[:16].replace("T", " ")  # an ISO time, to the minute
    return str(value)


# The tables the trail names, as Core tables: the audit pages read a ticket's number or a
# tag's name without importing those features (the audit machinery sits below them).
_TICKETS = sa.table("tickets", sa.column("id"), sa.column("number"))
_TAGS = sa.table("tags", sa.column("id"), sa.column("name"))


def references(entries: Sequence[Entry]) -> dict[tuple[str, int], str]:
    """Name what a page of entries is about: ``SD-1201``, a tag's or a person's name.

    One statement for all of them (a UNION of the three lookups), whatever the page holds.
    """
    tickets = {e.log.ticket_id for e in entries if e.log.ticket_id is not None}
    tags = {e.log.entity_id for e in entries if e.log.entity_type == "tags" and e.log.entity_id}
    users = {e.log.entity_id for e in entries if e.log.entity_type == "users" and e.log.entity_id}
    parts = []
    if tickets:
        parts.append(sa.select(sa.literal("tickets"), _TICKETS.c.id,
                               sa.cast(_TICKETS.c.number, sa.String))
                     .where(_TICKETS.c.id.in_(tickets)))  # fmt: skip
    if tags:
        parts.append(sa.select(sa.literal("tags"), _TAGS.c.id, _TAGS.c.name)
                     .where(_TAGS.c.id.in_(tags)))  # fmt: skip
    if users:
        parts.append(sa.select(sa.literal("users"), User.id, User.full_name)
                     .where(User.id.in_(users)))  # fmt: skip
    if not parts:
        return {}
    found = db.session.execute(sa.union_all(*parts)).all()
    return {(kind, int(row_id)): (f"SD-{label}" if kind == "tickets" else str(label))
            for kind, row_id, label in found}  # fmt: skip
