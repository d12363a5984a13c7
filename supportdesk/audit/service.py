"""Audit operations beyond the listeners: security events and retention."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from supportdesk.audit import integrity
from supportdesk.audit.listeners import record_event
from supportdesk.audit.models import AuditLog, AuditSeal
from supportdesk.errors import DomainError
from supportdesk.extensions import db

# Recreated by prune on SQLite, exactly as the audit-trail migration created it.
_SQLITE_DELETE_TRIGGER = (
    "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs BEGIN "
    "SELECT RAISE(ABORT, 'the audit log is append-only'); END"
)


def seal_log() -> AuditSeal | None:
    """Seal the entries written since the last seal and record that it was done.

    :returns: the new seal, or None when there was nothing to seal.
    """
    new = integrity.seal()
    if new is not None:
        record_event("audit.sealed", entity=("audit_seals", new.id),
                     changes={"up_to_id": new.last_log_id, "rows": new.row_count})  # fmt: skip
    return new


class PruneError(DomainError):
    """Pruning was refused (nothing to prune, or the date is too recent)."""


def prune(before: dt.datetime, *, minimum_age: dt.timedelta = dt.timedelta(days=30)) -> int:
    """Delete audit rows older than ``before``, whole seals at a time; return how many.

    Only rows covered by seals entirely older than ``before`` are deleted (so that the
    remaining chain still verifies), or, when nothing was ever sealed, every older row.
    The prune itself is recorded (``audit.pruned``) with the range it removed.
    """
    if before > dt.datetime.now(dt.UTC) - minimum_age:
        raise PruneError(f"Refusing to prune rows younger than {minimum_age.days} days.")
    session = db.session
    last_seal = session.scalars(
        sa.select(AuditSeal)
        .where(
            AuditSeal.last_log_id
            < sa.select(sa.func.coalesce(sa.func.min(AuditLog.id), 0))
            .where(AuditLog.occurred_at >= before)
            .scalar_subquery()
        )
        .order_by(AuditSeal.id.desc())
        .limit(1)
    ).first()
    any_seal = session.scalar(sa.select(AuditSeal.id).limit(1)) is not None
    if last_seal is not None:
        condition = AuditLog.id <= last_seal.last_log_id
    elif not any_seal:
        condition = AuditLog.occurred_at < before
    else:
        raise PruneError("No sealed range ends before that date; nothing can be pruned.")
    bounds = session.execute(
        sa.select(sa.func.min(AuditLog.id), sa.func.max(AuditLog.id), sa.func.count())
        .where(condition)
    ).one()  # fmt: skip
    if not bounds[2]:
        raise PruneError("No audit rows are old enough to prune.")
    connection = session.connection()
    connection.info["audit_prune"] = True
    try:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SET LOCAL supportdesk.audit_prune = 'on'"))
            connection.execute(sa.delete(AuditLog).where(condition))
            connection.execute(sa.text("SET LOCAL supportdesk.audit_prune = 'off'"))
        else:
            connection.execute(sa.text("DROP TRIGGER audit_logs_no_delete"))
            connection.execute(sa.delete(AuditLog).where(condition))
            connection.execute(sa.text(_SQLITE_DELETE_TRIGGER))
    finally:
        connection.info.pop("audit_prune", None)
    record_event(
        "audit.pruned",
        entity=("audit_logs", None),
        changes={"before": before.isoformat(), "first_id": bounds[0], "up_to_id": bounds[1],
                 "rows": bounds[2]},
    )  # fmt: skip
    return int(bounds[2])
