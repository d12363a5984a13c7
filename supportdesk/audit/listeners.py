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
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, attributes

from supportdesk.audit.auditable import Auditable, audited_classes
from supportdesk.audit.context import current_context
from supportdesk.audit.integrity import row_hash
from supportdesk.audit.models import AuditLog
from supportdesk.db import copy_field, db, utcnow
from supportdesk.metrics import AUDIT_ROWS

AUDIT_TABLES = frozenset({"audit_logs", "audit_seals"})

_permit: ContextVar[int] = ContextVar("supportdesk_audit_permit", default=0)
_WRITE = re.compile(r'^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
_audited_tables: set[str] = set()


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


# One builder of audit rows, used by the flush listener and by set-based bulk paths.


def _columns(cls: type[Any]) -> list[str]:
    return [c.key for c in sa.inspect(cls).column_attrs if c.key not in cls.__audit_exclude__]


def _row(
    action: str,
    entity_type: str,
    entity_id: Any,
    changes: dict[str, Any],
    *,
    ticket_id: int | None = None,
    base: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row = dict(base) if base is not None else _base()
    row.update(action=action, entity_type=entity_type, entity_id=entity_id,
               ticket_id=ticket_id, changes=changes)  # fmt: skip
    return row


def _base() -> dict[str, Any]:
    """Return the who, when and where of rows written now (one clock reading per batch)."""
    context = current_context()
    row = {
        "occurred_at": utcnow(),
        "actor_id": context.actor_id,
        "actor_label": context.actor_label,
        "source": context.source,
        "request_id": context.request_id,
        "remote_addr": context.remote_addr,
    }
    # Only when not the column's default: code of this version still writes to a schema
    # from before the column (the window of a rolling upgrade).
    if context.actor_type != "user":
        row["actor_type"] = context.actor_type
    return row


def _ticket_id(cls: type[Any], entity_id: Any, values: Mapping[str, Any]) -> int | None:
    key = cls.__audit_ticket_key__
    if key is None:
        return None
    if key == "id":
        return entity_id
    return values.get(key)


def _table(cls: type[Any]) -> str:
    return str(sa.inspect(cls).persist_selectable.name)


def _hide_secrets(cls: type[Any], changes: dict[str, Any]) -> dict[str, Any]:
    for field, label in cls.__audit_secrets__.items():
        if field in changes:
            del changes[field]
            changes[label] = "changed"
    return changes


def created_row(
    cls: type[Any], entity_id: Any, values: Mapping[str, Any], *, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Return the ``<name>.created`` row of a new row with column ``values``."""
    changes = {
        key: {"old": None, "new": serialize(values.get(key))}
        for key in _columns(cls)
        if key != "id" and key not in cls.__audit_secrets__  # a new password: never its hash
    }
    for attr, ids in values.items():
        if attr in cls.__audit_collections__:
            changes[attr] = {"old": None, "new": sorted(ids)}
    ticket_id = _ticket_id(cls, entity_id, values)
    return _row(f"{cls.__audit_name__}.created", cls.__tablename__, entity_id, changes,
                ticket_id=ticket_id, base=base)  # fmt: skip


def update_rows(
    cls: type[Any],
    items: Iterable[tuple[Any, Mapping[str, Any], Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Return the rows of updates: ``items`` are ``(entity_id, old values, new values)``.

    Columns the model excludes are dropped, unchanged values skipped, secrets hidden; a
    change of the soft-delete column is recorded as ``.deleted`` or ``.restored``. The
    values need only hold the columns that may have changed (and the ticket key).
    """
    allowed = set(_columns(cls))
    soft = cls.__audit_soft_delete__
    base = _base()
    rows = []
    for entity_id, old, new in items:
        changes: dict[str, Any] = {}
        for key in new:
            if key not in allowed:
                continue
            before, after = serialize(old.get(key)), serialize(new[key])
            if before != after:
                changes[key] = {"old": before, "new": after}
        if not changes:
            continue
        suffix = "updated"
        if soft is not None and soft in changes:
            suffix = "restored" if changes[soft]["new"] is None else "deleted"
        ticket_id = _ticket_id(cls, entity_id, {**old, **new})
        rows.append(_row(f"{cls.__audit_name__}.{suffix}", cls.__tablename__, entity_id,
                         _hide_secrets(cls, changes), ticket_id=ticket_id, base=base))  # fmt: skip
    return rows


def collection_rows(
    cls: type[Any],
    attr: str,
    items: Iterable[tuple[Any, Iterable[int], Iterable[int]]],
    *,
    ticket_ids: Mapping[Any, int | None] | None = None,
) -> list[dict[str, Any]]:
    """Return the rows of collection changes: ``items`` are ``(entity_id, added, removed)``."""
    singular = cls.__audit_collections__[attr]
    base = _base()
    rows = []
    for entity_id, added, removed in items:
        ticket_id = (ticket_ids or {}).get(entity_id, _ticket_id(cls, entity_id, {}))
        for verb, ids in (("added", sorted(added)), ("removed", sorted(removed))):
            if ids:
                rows.append(_row(f"{cls.__audit_name__}.{singular}_{verb}", cls.__tablename__,
                                 entity_id, {attr: {verb: ids}}, ticket_id=ticket_id,
                                 base=base))  # fmt: skip
    return rows


# The flush listener


def _primary_key(obj: Any) -> Any:
    # identity is still None for new objects in after_flush; the mapper reads the key.
    return sa.inspect(obj).mapper.primary_key_from_instance(obj)[0]


def _values(obj: Any) -> dict[str, Any]:
    values = {key: getattr(obj, key) for key in _columns(type(obj))}
    ticket_key = type(obj).__audit_ticket_key__
    if ticket_key is not None:
        values[ticket_key] = getattr(obj, ticket_key)
    return values


def _before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    _permit_flush(session, True)
    snapshots = session.info.setdefault("audit_deleted", {})
    for obj in session.deleted:
        if isinstance(obj, Auditable):
            state = sa.inspect(obj)
            keys = {*_columns(type(obj)), type(obj).__audit_ticket_key__} - {None}
            snapshots[id(obj)] = {
                key: serialize(state.attrs[key].loaded_value) for key in keys
                if state.attrs[key].loaded_value is not attributes.NO_VALUE
            }  # fmt: skip


def _after_flush(session: Session, flush_context: Any) -> None:
    rows: list[dict[str, Any]] = []
    base: dict[str, Any] | None = None  # read once, and only when something is audited
    for obj in session.new:
        if isinstance(obj, Auditable):
            values = _values(obj)
            for attr in type(obj).__audit_collections__:
                if attr in obj.__dict__:
                    values[attr] = [item.id for item in getattr(obj, attr)]
            base = base or _base()
            rows.append(created_row(type(obj), _primary_key(obj), values, base=base))
    for obj in session.dirty:
        if isinstance(obj, Auditable):
            rows.extend(_updated(obj))
    snapshots = session.info.pop("audit_deleted", {})
    for obj in session.deleted:
        if isinstance(obj, Auditable):
            cls = type(obj)
            base = base or _base()
            before = snapshots.get(id(obj), {})
            entity_id = before.get("id")
            changes = {k: {"old": v, "new": None} for k, v in before.items()
                       if k in _columns(cls)}  # fmt: skip
            rows.append(_row(f"{cls.__audit_name__}.{cls.__audit_delete_action__}",
                             _table(cls), entity_id, _hide_secrets(cls, changes),
                             ticket_id=_ticket_id(cls, entity_id, before), base=base))  # fmt: skip
    write_rows(session.connection(), rows)


def _updated(obj: Any) -> list[dict[str, Any]]:
    cls = type(obj)
    state = sa.inspect(obj)
    entity_id = _primary_key(obj)
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    for key in _columns(cls):
        history = state.attrs[key].history
        if history.has_changes():
            old[key] = history.deleted[0] if history.deleted else None
            new[key] = history.added[0] if history.added else None
    ticket_key = cls.__audit_ticket_key__
    if ticket_key is not None and ticket_key not in new:
        old[ticket_key] = getattr(obj, ticket_key)
    rows = update_rows(cls, [(entity_id, old, new)])
    for attr in cls.__audit_collections__:
        history = state.attrs[attr].history
        added = [item.id for item in history.added]
        removed = [item.id for item in history.deleted]
        if added or removed:
            rows.extend(collection_rows(cls, attr, [(entity_id, added, removed)],
                                        ticket_ids={entity_id: _ticket_id(cls, entity_id,
                                                                          old)}))  # fmt: skip
    return rows


def write_rows(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Append audit rows as multi-row INSERTs (one per 1,000 rows)."""
    for row in rows:
        row["row_hash"] = row_hash(row)
    AUDIT_ROWS.inc(len(rows))
    if len(rows) >= COPY_FROM and connection.dialect.name == "postgresql":
        _copy_rows(connection, rows)
    elif rows:
        # executemany: SQLAlchemy's "insertmanyvalues" sends multi-row INSERTs of up to
        # 1,000 rows from one cached statement (a .values(list) would recompile each time).
        connection.execute(sa.insert(AuditLog), rows)


COPY_FROM = 500  # rows; a bulk action's audit rows go in by COPY on PostgreSQL
_COPY_COLUMNS = (
    "occurred_at", "actor_id", "actor_label", "actor_type", "source", "action", "entity_type",
    "entity_id", "ticket_id", "changes", "request_id", "remote_addr", "row_hash",
)  # fmt: skip


def _copy_rows(connection: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """COPY rows into the log through the session's own connection (same transaction)."""
    buffer = io.StringIO()
    columns = [c for c in _COPY_COLUMNS if c in rows[0]]  # actor_type only when not "user"
    for row in rows:
        values = (json.dumps(row[c]) if c == "changes" else row[c] for c in columns)
        buffer.write("\t".join(copy_field(v) for v in values))
        buffer.write("\n")
    buffer.seek(0)
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open: we are in a transaction
    try:
        cursor.copy_expert(f"COPY audit_logs ({', '.join(columns)}) FROM STDIN", buffer)
    finally:
        cursor.close()


def record_event(action: str, *, entity: Any, changes: dict[str, Any] | None = None) -> None:
    """Append one audit row that no model change produces (logins, seals, prunes)."""
    if isinstance(entity, tuple):  # (entity_type, entity_id)
        entity_type, entity_id = entity
        ticket_id = None
    else:
        entity_type, entity_id = entity.__tablename__, _primary_key(entity)
        key = getattr(entity, "__audit_ticket_key__", None)
        ticket_id = getattr(entity, key) if key is not None else None
    row = _row(action, entity_type, entity_id, changes or {}, ticket_id=ticket_id)
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
    if table in _audited_tables and _permit.get() == 0:
        raise UnauditedWriteError(
            f"{verb} on {table} outside a flush or audited_bulk(): it would leave no audit row"
        )


def _refuse_change(mapper: Any, connection: Any, target: Any) -> None:
    raise UnauditedWriteError("audit rows are never changed or deleted")


def audited_tables() -> frozenset[str]:
    """Return the tables of every Auditable model and of their audited collections."""
    tables: set[str] = set()
    for cls in audited_classes():
        mapper = sa.inspect(cls)
        tables.update(t.name for t in mapper.tables)
        for attr in cls.__audit_collections__:
            secondary = mapper.relationships[attr].secondary
            if secondary is not None:
                tables.add(secondary.name)
    return frozenset(tables)


def register(session: Any, engine: Engine) -> None:
    """Install the listeners (idempotent: create_app may run many times per process).

    The models must be imported first: the guard protects the tables they declare.
    """
    _audited_tables.update(audited_tables())
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
