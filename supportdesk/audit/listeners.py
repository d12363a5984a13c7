"""Session listeners that write the audit log in the same transaction as the change.

``before_flush`` snapshots objects about to be deleted; ``after_flush`` (primary keys
known, attribute history still pre-flush) turns new, changed and deleted objects into
audit rows and writes them with one multi-row INSERT on the session's connection. An
engine-level guard refuses any INSERT/UPDATE/DELETE on an audited table that does not
come from a flush or from :func:`audited_bulk`, and any UPDATE/DELETE of the audit log.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, attributes

from supportdesk.audit.context import current_context
from supportdesk.audit.models import AuditLog
from supportdesk.db import copy_field, utcnow
from supportdesk.macros.models import Macro, MacroTag
from supportdesk.tags.models import Tag
from supportdesk.tickets.models import Comment, Ticket
from supportdesk.users.models import User

# model -> (name used in actions, fields never recorded)
AUDITED: dict[type, tuple[str, frozenset[str]]] = {
    # due_at follows priority (and the SLA hours): the priority change is the record.
    Ticket: (
        "ticket",
        frozenset({"updated_at", "version", "updated_by_id", "first_reply_at", "due_at"}),
    ),
    Comment: ("comment", frozenset({"updated_at"})),
    Tag: ("tag", frozenset()),
    Macro: ("macro", frozenset({"updated_at", "version", "updated_by_id"})),
    MacroTag: ("macro_tag", frozenset()),
    # Login bookkeeping is recorded by the user.login / user.login_failed events instead.
    User: (
        "user",
        frozenset(
            {"updated_at", "last_login_at", "session_epoch", "failed_logins", "locked_until"}
        ),
    ),  # fmt: skip
}
SECRET_FIELDS = {"password_hash": "password"}  # nosec B105 - a column label, not a secret
AUDITED_TABLES = frozenset(
    {"tickets", "comments", "tags", "ticket_tags", "users", "macros", "macro_tags"}
)
AUDIT_TABLES = frozenset({"audit_logs", "audit_seals"})

_permit: ContextVar[int] = ContextVar("supportdesk_audit_permit", default=0)
_WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)


class UnauditedWriteError(RuntimeError):
    """A statement changed an audited table outside a flush or an audited bulk helper."""


@contextmanager
def audited_bulk() -> Iterator[None]:
    """Allow Core statements on audited tables; the caller writes their audit rows."""
    token = _permit.set(_permit.get() + 1)
    try:
        yield
    finally:
        _permit.reset(token)


def serialize(value: Any) -> Any:
    """Return a JSON-ready value: enums by value, datetimes as ISO 8601 UTC."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _columns(obj: Any) -> list[str]:
    _, excluded = AUDITED[type(obj)]
    return [c.key for c in sa.inspect(type(obj)).column_attrs if c.key not in excluded]


def _primary_key(obj: Any) -> Any:
    if isinstance(obj, str):
        return None
    # identity is still None for new objects in after_flush; the mapper reads the key.
    return sa.inspect(obj).mapper.primary_key_from_instance(obj)[0]


def _ticket_id_of(obj: Any) -> int | None:
    if isinstance(obj, Ticket):
        return obj.id
    if isinstance(obj, Comment):
        return obj.ticket_id
    return None


def _row(action: str, obj: Any, changes: dict[str, Any], entity_id: Any = None) -> dict[str, Any]:
    context = current_context()
    return {
        "occurred_at": utcnow(),
        "actor_id": context.actor_id,
        "actor_label": context.actor_label,
        "source": context.source,
        "action": action,
        "entity_type": obj.__tablename__ if not isinstance(obj, str) else obj,
        "entity_id": entity_id if entity_id is not None else _primary_key(obj),
        "ticket_id": _ticket_id_of(obj) if not isinstance(obj, str) else None,
        "changes": changes,
        "request_id": context.request_id,
        "remote_addr": context.remote_addr,
    }


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    _permit_flush(session, True)
    snapshots = session.info.setdefault("audit_deleted", {})
    for obj in session.deleted:
        if type(obj) in AUDITED:
            state = sa.inspect(obj)
            snapshots[id(obj)] = {
                key: serialize(state.attrs[key].loaded_value) for key in _columns(obj)
                if state.attrs[key].loaded_value is not attributes.NO_VALUE
            }  # fmt: skip


def _after_flush(session: Session, flush_context: Any) -> None:
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if type(obj) in AUDITED:
            rows.extend(_created(obj))
    for obj in session.dirty:
        if type(obj) in AUDITED:
            rows.extend(_updated(obj))
    snapshots = session.info.pop("audit_deleted", {})
    for obj in session.deleted:
        if type(obj) in AUDITED:
            name, _ = AUDITED[type(obj)]
            before = snapshots.get(id(obj), {})
            action = "ticket.purged" if isinstance(obj, Ticket) else f"{name}.deleted"
            changes = {k: {"old": v, "new": None} for k, v in before.items()}
            row = _row(action, obj, _hide_secrets(changes), entity_id=before.get("id"))
            row["ticket_id"] = (
                before.get("id") if isinstance(obj, Ticket) else before.get("ticket_id")
            )
            rows.append(row)
    write_rows(session.connection(), rows)


def _hide_secrets(changes: dict[str, Any]) -> dict[str, Any]:
    for field, label in SECRET_FIELDS.items():
        if field in changes:
            del changes[field]
            changes[label] = "changed"
    return changes


def _created(obj: Any) -> list[dict[str, Any]]:
    name, _ = AUDITED[type(obj)]
    changes = {key: {"old": None, "new": serialize(getattr(obj, key))} for key in _columns(obj)}
    changes.pop("id", None)
    if isinstance(obj, Ticket) and "tags" in obj.__dict__:
        changes["tags"] = {"old": None, "new": sorted(t.id for t in obj.tags)}
    if isinstance(obj, User):
        changes.pop("password_hash", None)  # a new account has a password; never its hash
    return [_row(f"{name}.created", obj, changes)]


def _updated(obj: Any) -> list[dict[str, Any]]:
    name, _ = AUDITED[type(obj)]
    state = sa.inspect(obj)
    changes: dict[str, Any] = {}
    for key in _columns(obj):
        history = state.attrs[key].history
        if not history.has_changes():
            continue
        old = serialize(history.deleted[0]) if history.deleted else None
        new = serialize(history.added[0]) if history.added else None
        if old != new:
            changes[key] = {"old": old, "new": new}
    rows = []
    if changes:
        action = f"{name}.updated"
        if isinstance(obj, Ticket) and "deleted_at" in changes:
            action = "ticket.restored" if changes["deleted_at"]["new"] is None else "ticket.deleted"
        rows.append(_row(action, obj, _hide_secrets(changes)))
    if isinstance(obj, Ticket):
        history = state.attrs["tags"].history
        added = sorted(t.id for t in history.added)
        removed = sorted(t.id for t in history.deleted)
        if added:
            rows.append(_row("ticket.tag_added", obj, {"tags": {"added": added}}))
        if removed:
            rows.append(_row("ticket.tag_removed", obj, {"tags": {"removed": removed}}))
    return rows


def write_rows(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Append audit rows as multi-row INSERTs (one per 1,000 rows)."""
    from supportdesk.audit.integrity import row_hash
    from supportdesk.observability import AUDIT_ROWS

    for row in rows:
        row["row_hash"] = row_hash(row)
    AUDIT_ROWS.inc(len(rows))
    if len(rows) >= COPY_FROM and connection.dialect.name == "postgresql":
        _copy_rows(connection, rows)
    elif rows:
        # executemany: SQLAlchemy's "insertmanyvalues" sends multi-row INSERTs of up to
        # 1,000 rows from one cached statement (a .values(list) would recompile each time).
        connection.execute(sa.insert(AuditLog.__table__), rows)


COPY_FROM = 500  # rows; a bulk action's audit rows go in by COPY on PostgreSQL
_COPY_COLUMNS = (
    "occurred_at", "actor_id", "actor_label", "source", "action", "entity_type", "entity_id",
    "ticket_id", "changes", "request_id", "remote_addr", "row_hash",
)  # fmt: skip


def _copy_rows(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """COPY rows into the log through the session's own connection (same transaction)."""
    buffer = io.StringIO()
    for row in rows:
        values = (json.dumps(row[c]) if c == "changes" else row[c] for c in _COPY_COLUMNS)
        buffer.write("\t".join(copy_field(v) for v in values))
        buffer.write("\n")
    buffer.seek(0)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY audit_logs ({', '.join(_COPY_COLUMNS)}) FROM STDIN", buffer)
    finally:
        cursor.close()


def ticket_rows(action: str, changes_by_ticket: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return audit rows for Core-level changes of tickets (bulk actions)."""
    if not changes_by_ticket:
        return []
    template = _row(action, "tickets", {}, entity_id=0)  # one context and clock per batch
    return [
        dict(template, entity_id=ticket_id, ticket_id=ticket_id, changes=changes)
        for ticket_id, changes in changes_by_ticket.items()
    ]


def record_event(action: str, *, entity: Any, changes: dict[str, Any] | None = None) -> None:
    """Append one audit row that no model change produces (logins, seals, prunes)."""
    from supportdesk.extensions import db

    if isinstance(entity, tuple):  # (entity_type, entity_id)
        row = _row(action, entity[0], changes or {}, entity_id=entity[1])
    else:
        row = _row(action, entity, changes or {})
    write_rows(db.session.connection(), [row])


def _permit_flush(session: Session, on: bool) -> None:
    tokens = session.info.setdefault("audit_permit_tokens", [])
    if on:
        tokens.append(_permit.set(_permit.get() + 1))
    else:
        while tokens:
            _permit.reset(tokens.pop())


def _after_flush_postexec(session: Session, flush_context: Any) -> None:
    _permit_flush(session, False)


def _after_soft_rollback(session: Session, previous_transaction: Any) -> None:
    _permit_flush(session, False)
    session.info.pop("audit_deleted", None)


def _guard(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    match = _WRITE.match(statement)
    if match is None:
        return
    verb, table = match.group(1).split()[0].upper(), match.group(2).lower()
    if table in AUDIT_TABLES and verb != "INSERT" and not conn.info.get("audit_prune"):
        raise UnauditedWriteError(f"the audit log is append-only ({verb} {table} refused)")
    if table in AUDITED_TABLES and _permit.get() == 0:
        raise UnauditedWriteError(
            f"{verb} on {table} outside a flush or audited_bulk(): it would leave no audit row"
        )


def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise UnauditedWriteError("audit rows are never changed or deleted")


def register(session: Any, engine: Engine) -> None:
    """Install the listeners (idempotent: create_app may run many times per process)."""
    for name, listener in (
        ("before_flush", _before_flush),
        ("after_flush", _after_flush),
        ("after_flush_postexec", _after_flush_postexec),
        ("after_soft_rollback", _after_soft_rollback),
    ):
        if not event.contains(session, name, listener):
            event.listen(session, name, listener)
    if not event.contains(engine, "before_cursor_execute", _guard):
        event.listen(engine, "before_cursor_execute", _guard)
    for name in ("before_update", "before_delete"):
        if not event.contains(AuditLog, name, _refuse_change):
            event.listen(AuditLog, name, _refuse_change)
