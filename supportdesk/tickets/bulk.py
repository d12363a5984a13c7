"""Bulk actions on many tickets: one transaction, set-based statements, same rules.

Rows are read once (locked with ``FOR UPDATE`` on PostgreSQL), each ticket is judged by
the same rules as a single edit (closed tickets, stale versions, the status rule), and
the changes go out as a few set-based statements rather than one per ticket.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from supportdesk import events
from supportdesk.audit.listeners import audited_bulk, collection_rows, update_rows, write_rows
from supportdesk.db import parse_id, utcnow
from supportdesk.extensions import db
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets import followers, rules
from supportdesk.tickets.models import Ticket, TicketStatus
from supportdesk.tickets.rules import InvalidTicketError, Skip
from supportdesk.users.models import User

BULK_LIMIT = 10_000
CHUNK = 500  # ids per IN list: well under SQLite's variable limit


class BulkAction(enum.StrEnum):
    """What a bulk request does to every selected ticket."""

    STATUS = "status"
    ASSIGN = "assign"
    ADD_TAG = "add_tag"
    REMOVE_TAG = "remove_tag"
    DELETE = "delete"


@dataclass
class BulkResult:
    """How many tickets changed, and why the others did not."""

    updated: int = 0
    skipped: Counter[Skip] = field(default_factory=Counter)
    numbers: list[int] = field(default_factory=list)  # the tickets that changed

    def summary(self) -> str:
        """Return the message staff see, e.g. ``42 tickets updated, 3 skipped: closed``."""
        noun = "ticket" if self.updated == 1 else "tickets"
        text = f"{self.updated} {noun} updated"
        if self.skipped:
            reasons = ", ".join(
                f"{count} {rules.SKIP_TEXT[reason]}" for reason, count in self.skipped.items()
            )
            text += f", {sum(self.skipped.values())} skipped: {reasons}"
        return text + "."


def chunks(items: Sequence[int]) -> Iterable[Sequence[int]]:
    """Yield ``items`` in slices of :data:`CHUNK` (one IN list each)."""
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _resolve_value(action: BulkAction, value: str, actor: User) -> Any:
    if action == BulkAction.STATUS:
        try:
            return TicketStatus(value)
        except ValueError:
            raise InvalidTicketError(f"{value!r} is not a status.") from None
    if action == BulkAction.ASSIGN:
        if value in ("", "none"):
            return None
        if value == "me":
            return actor
        user_id = parse_id(value)
        user = db.session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise InvalidTicketError("Choose an active staff member to assign.")
        return user
    if action in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG):
        tag_id = parse_id(value)
        tag = db.session.get(Tag, tag_id) if tag_id is not None else None
        if tag is None:
            raise InvalidTicketError("Choose an existing tag.")
        return tag
    return None


def bulk_update(
    ticket_ids: Iterable[int],
    *,
    action: BulkAction | str,
    value: str,
    actor: User,
    versions: Mapping[int, int] | None = None,
    loaded_at: dt.datetime | None = None,
) -> BulkResult:
    """Apply ``action`` to the tickets ``ticket_ids``.

    :param versions: the version each ticket had when the list was shown; a ticket
        whose version moved on is skipped as changed by someone else.
    :param loaded_at: for "all matching" selections (no versions): tickets updated after
        this moment are skipped the same way.
    :raises InvalidTicketError: the action, value or selection is not acceptable.
    """
    try:
        action = BulkAction(action)
    except ValueError:
        raise InvalidTicketError(f"{action!r} is not a bulk action.") from None
    ids = check_selection(ticket_ids, limit=BULK_LIMIT)
    target = _resolve_value(action, value, actor)
    now = utcnow()
    rows, result = select_rows(ids, versions=versions, loaded_at=loaded_at)
    has_tag: set[int] = set()
    if action in (BulkAction.ADD_TAG, BulkAction.REMOVE_TAG):
        has_tag = _tickets_with_tag(target.id, [r.id for r in rows])
    chosen: list[Any] = []
    for row in rows:
        reason = _skip_reason(row, action, target, has_tag)
        if reason:
            result.skipped[reason] += 1
        else:
            chosen.append(row)
    if chosen:
        with audited_bulk():
            _apply(action, target, chosen, actor, now)
            write_rows(db.session.connection(), _audit_rows(action, target, chosen, actor, now))
    result.updated = len(chosen)
    result.numbers = [row.number for row in chosen]
    changed = {row.id for row in chosen}
    if chosen:
        events.publish(events.TICKETS_UPDATED, ticket_ids=sorted(changed),
                       changed=BULK_CHANGES[action])  # fmt: skip
    for obj in list(db.session.identity_map.values()):  # loaded copies are now stale
        if isinstance(obj, Ticket) and obj.id in changed:
            db.session.expire(obj)
    return result


def check_selection(ticket_ids: Iterable[int], *, limit: int) -> list[int]:
    """Return the selected ids, sorted and unique.

    :raises InvalidTicketError: nothing selected, or more than ``limit`` tickets.
    """
    ids = sorted(set(ticket_ids))
    if not ids:
        raise InvalidTicketError("Select at least one ticket.")
    if len(ids) > limit:
        raise InvalidTicketError(f"A bulk action takes at most {limit:,} tickets.")
    return ids


def select_rows(
    ids: Sequence[int],
    *,
    versions: Mapping[int, int] | None,
    loaded_at: dt.datetime | None,
) -> tuple[list[Any], BulkResult]:
    """Lock the live tickets ``ids``; return those not stale, and a result counting the rest.

    Shared by every bulk path (actions, macros): missing and stale tickets are judged
    here, once, by the rulebook.
    """
    versions = versions or {}
    result = BulkResult()
    rows = lock_rows(ids)
    if len(rows) < len(ids):
        result.skipped[Skip.MISSING] += len(ids) - len(rows)
    fresh = []
    for row in rows:
        if rules.is_stale(row_state(row), expected_version=versions.get(row.id),
                          loaded_at=loaded_at):  # fmt: skip
            result.skipped[Skip.CHANGED] += 1
        else:
            fresh.append(row)
    return fresh, result


def row_state(row: Any) -> rules.TicketState:
    """Return what the rules need of a row read by :func:`lock_rows`."""
    return rules.TicketState(status=row.status, version=row.version, updated_at=row.updated_at,
                             resolved_at=row.resolved_at, assignee_id=row.assignee_id)  # fmt: skip


def lock_rows(ids: Sequence[int]) -> list[Any]:
    """Read (and on PostgreSQL lock, in id order) the live tickets ``ids`` for a bulk change."""
    columns = (Ticket.id, Ticket.number, Ticket.version, Ticket.status, Ticket.resolved_at,
               Ticket.assignee_id, Ticket.updated_at)  # fmt: skip
    rows: list[Any] = []
    for chunk in chunks(ids):
        stmt = (
            sa.select(*columns)
            .where(Ticket.id.in_(chunk), Ticket.deleted_at.is_(None))
            .order_by(Ticket.id)  # one lock order for every bulk request: no deadlocks
            .with_for_update()
        )
        rows.extend(db.session.execute(stmt).all())
    return rows


def _tickets_with_tag(tag_id: int, ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunks(ids):
        found.update(
            db.session.scalars(
                sa.select(ticket_tags.c.ticket_id).where(
                    ticket_tags.c.tag_id == tag_id, ticket_tags.c.ticket_id.in_(chunk)
                )
            )
        )
    return found


def _skip_reason(row: Any, action: BulkAction, target: Any, has_tag: set[int]) -> Skip | None:
    """Judge one row by the rulebook, as a single edit of the same change would be."""
    state = row_state(row)
    if action == BulkAction.DELETE:
        return None  # the trash is not an edit: closed tickets can be trashed too
    if action == BulkAction.STATUS:
        changed = {"status"} if row.status != target else set()
    elif action == BulkAction.ASSIGN:
        changed = {"assignee"} if row.assignee_id != (target.id if target else None) else set()
    elif action == BulkAction.ADD_TAG:
        changed = set() if row.id in has_tag else {"tags"}
    else:
        changed = {"tags"} if row.id in has_tag else set()
    assignee = (target.is_active, target.id) if action == BulkAction.ASSIGN and target else None
    return rules.skip_reason(state, changed, assignee=assignee)


# What each bulk action changes, as the tickets.updated event names it.
BULK_CHANGES = {BulkAction.STATUS: {"status"}, BulkAction.ASSIGN: {"assignee"},
                BulkAction.DELETE: {"deleted"}, BulkAction.ADD_TAG: {"tags"},
                BulkAction.REMOVE_TAG: {"tags"}}  # fmt: skip


def _apply(action: BulkAction, target: Any, rows: list[Any], actor: User, now: dt.datetime) -> None:
    touched = {"version": Ticket.version + 1, "updated_at": now, "updated_by_id": actor.id}
    if action == BulkAction.STATUS:
        # Group by the resolved_at each row gets from the status rule: at most three groups.
        groups: dict[Any, list[int]] = {}
        for row in rows:
            resolved = rules.resolved_at_after(target, row.resolved_at, now)
            key = "keep" if resolved == row.resolved_at else resolved
            groups.setdefault(key, []).append(row.id)
        for key, ids in groups.items():
            values = dict(touched, status=target)
            if key != "keep":
                values["resolved_at"] = key
            _update(ids, values)
    elif action == BulkAction.ASSIGN:
        _update([r.id for r in rows], dict(touched, assignee_id=target.id if target else None))
        if target is not None:
            followers.follow([r.id for r in rows], target.id)
    elif action == BulkAction.DELETE:
        _update([r.id for r in rows], dict(touched, deleted_at=now, deleted_by_id=actor.id))
    elif action == BulkAction.ADD_TAG:
        db.session.execute(
            sa.insert(ticket_tags),
            [{"ticket_id": r.id, "tag_id": target.id, "created_at": now} for r in rows],
        )
        _update([r.id for r in rows], touched)
    elif action == BulkAction.REMOVE_TAG:
        for chunk in chunks([r.id for r in rows]):
            db.session.execute(
                sa.delete(ticket_tags).where(
                    ticket_tags.c.tag_id == target.id, ticket_tags.c.ticket_id.in_(chunk)
                )
            )
        _update([r.id for r in rows], touched)


def _audit_rows(
    action: BulkAction, target: Any, rows: list[Any], actor: User, now: dt.datetime
) -> list[dict[str, Any]]:
    """Old and new values of every changed ticket, built by the listener's own builders."""
    if action == BulkAction.ADD_TAG:
        return collection_rows(Ticket, "tags", [(r.id, [target.id], []) for r in rows])
    if action == BulkAction.REMOVE_TAG:
        return collection_rows(Ticket, "tags", [(r.id, [], [target.id]) for r in rows])
    items = []
    for row in rows:
        if action == BulkAction.STATUS:
            resolved = rules.resolved_at_after(target, row.resolved_at, now)
            old = {"status": row.status, "resolved_at": row.resolved_at}
            new = {"status": target, "resolved_at": resolved}
        elif action == BulkAction.ASSIGN:
            old, new = {"assignee_id": row.assignee_id}, {"assignee_id": target and target.id}
        else:  # DELETE
            old = {"deleted_at": None, "deleted_by_id": None}
            new = {"deleted_at": now, "deleted_by_id": actor.id}
        items.append((row.id, old, new))
    return update_rows(Ticket, items)


def _update(ids: Sequence[int], values: dict[str, Any]) -> None:
    for chunk in chunks(ids):
        db.session.execute(
            sa.update(Ticket)
            .where(Ticket.id.in_(chunk))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
