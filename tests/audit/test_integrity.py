import datetime as dt

import pytest
import sqlalchemy as sa

from supportdesk.audit import integrity
from supportdesk.audit.models import AuditLog, AuditSeal
from supportdesk.audit.service import PruneError, prune
from supportdesk.extensions import db
from tests.factories import TicketFactory

LATER = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # past the seal margin


def _tamper(sql, params=()):
    """Change the log behind the app's back, with the append-only guard disabled."""
    raw = db.session.connection().connection.dbapi_connection
    cursor = raw.cursor()
    if db.session.get_bind().dialect.name == "postgresql":
        cursor.execute("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_append_only")
    else:
        cursor.execute("DROP TRIGGER IF EXISTS audit_logs_no_update")
        cursor.execute(sql.replace("%s", "?"), params)
    cursor.close()


def _sealed_log():
    TicketFactory.create_batch(3)
    db.session.flush()
    first = integrity.seal(now=LATER)
    assert first is not None
    TicketFactory()
    db.session.flush()
    second = integrity.seal(now=LATER)
    assert second.previous_digest == first.digest
    return first, second


def test_seal_chains_and_verify_passes(app):
    first, second = _sealed_log()
    assert first.row_count == db.session.scalar(
        sa.select(sa.func.count()).where(AuditLog.id <= first.last_log_id)
    )
    assert integrity.seal(now=LATER) is None  # nothing new
    rows, seals, problem = integrity.verify()
    assert problem is None
    assert seals == 2
    assert rows == db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))


def test_recent_rows_wait_for_the_margin(app):
    TicketFactory()
    db.session.flush()
    assert integrity.seal() is None  # written just now: a transaction could still be open


def test_verify_names_an_altered_row(app):
    _sealed_log()
    target = db.session.scalars(sa.select(AuditLog.id).order_by(AuditLog.id).offset(1)).first()
    _tamper("UPDATE audit_logs SET action = 'ticket.forged' WHERE id = %s", (target,))
    db.session.expire_all()
    _, _, problem = integrity.verify()
    assert problem is not None
    assert (problem.kind, problem.ident) == ("row", target)


def test_verify_names_a_seal_when_row_and_hash_were_both_rewritten(app):
    first, _ = _sealed_log()
    target = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id).limit(1)).first()
    forged = {c: getattr(target, c) for c in integrity.HASHED_FIELDS}
    forged["action"] = "ticket.forged"
    _tamper("UPDATE audit_logs SET action = 'ticket.forged', row_hash = %s WHERE id = %s",
            (integrity.row_hash(forged), target.id))  # fmt: skip
    db.session.expire_all()
    _, _, problem = integrity.verify()
    assert (problem.kind, problem.ident) == ("seal", first.id)


def test_verify_notices_a_deleted_row(app):
    first, _ = _sealed_log()
    raw = db.session.connection().connection.dbapi_connection
    cursor = raw.cursor()
    if db.session.get_bind().dialect.name == "postgresql":
        cursor.execute("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_append_only")
    else:
        cursor.execute("DROP TRIGGER audit_logs_no_delete")
    cursor.execute(f"DELETE FROM audit_logs WHERE id = {int(first.first_log_id)}")  # noqa: S608
    cursor.close()
    db.session.expire_all()
    _, _, problem = integrity.verify()
    assert (problem.kind, problem.ident) == ("seal", first.id)
    assert "covered" in problem.message


def test_prune_deletes_whole_old_seals_and_is_itself_recorded(app):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    TicketFactory.create_batch(2)
    db.session.flush()
    _tamper("UPDATE audit_logs SET occurred_at = %s", (old if db.session.get_bind().dialect.name
            == "postgresql" else old.replace(tzinfo=None).isoformat(" "),))  # fmt: skip
    db.session.expire_all()
    # Row hashes no longer match after that rewrite, so re-hash them as if written then.
    for log in db.session.scalars(sa.select(AuditLog)):
        _tamper("UPDATE audit_logs SET row_hash = %s WHERE id = %s",
                (integrity.row_hash(log), log.id))  # fmt: skip
    db.session.expire_all()
    sealed = integrity.seal(now=LATER)
    TicketFactory()  # a recent row, after the seal
    db.session.flush()
    with pytest.raises(PruneError):
        prune(dt.datetime.now(dt.UTC))  # too recent a date
    removed = prune(old + dt.timedelta(days=1))
    assert removed == sealed.row_count
    remaining = db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()
    assert remaining[-1] == "audit.pruned"
    assert "ticket.created" in remaining  # the recent ticket's history stays
    with pytest.raises(Exception, match="append-only"), db.session.begin_nested():
        db.session.connection().connection.dbapi_connection.cursor().execute(
            "DELETE FROM audit_logs"
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditSeal)) == 1
