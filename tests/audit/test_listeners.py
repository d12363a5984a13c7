import datetime as dt
import ipaddress

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import MissingActorError, acting_as, reset_context, set_context
from supportdesk.audit.listeners import UnauditedWriteError
from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.models import Ticket, TicketPriority, TicketStatus, User
from supportdesk.tickets import service
from supportdesk.tickets.bulk import bulk_update
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CustomerFactory, TagFactory, TicketFactory, UserFactory


def _logs(*where):
    db.session.flush()
    return db.session.scalars(sa.select(AuditLog).where(*where).order_by(AuditLog.id)).all()


def _ticket_logs(ticket):
    return _logs(AuditLog.entity_type == "tickets", AuditLog.entity_id == ticket.id)


def test_create_records_every_field_with_old_null(app):
    actor = UserFactory()
    with acting_as(actor, source="web"):
        ticket = service.create_ticket(
            requester=CustomerFactory(),
            title="Printer",
            description="Jam",
            creator=actor,
            priority=TicketPriority.URGENT,
            tags=[TagFactory(name="hw")],
        )
    (log,) = _ticket_logs(ticket)
    assert log.action == "ticket.created"
    assert log.actor_id == actor.id
    assert log.source == "web"
    assert log.ticket_id == ticket.id
    changes = log.changes
    assert changes["title"] == {"old": None, "new": "Printer"}
    assert changes["priority"] == {"old": None, "new": "urgent"}  # enums by value
    assert changes["status"] == {"old": None, "new": "open"}
    assert changes["number"]["new"] == ticket.number
    assert changes["tags"]["new"] == [ticket.tags[0].id]
    assert dt.datetime.fromisoformat(changes["created_at"]["new"]).tzinfo == dt.UTC
    assert "updated_at" not in changes
    assert "version" not in changes


def test_update_records_only_changed_fields_and_skips_no_ops(app):
    ticket = TicketFactory(title="Old", tags=[])
    db.session.flush()
    actor = UserFactory()
    service.update_ticket(ticket, actor=actor, expected_version=None,
                          edit=TicketEdit(title="New", status=TicketStatus.RESOLVED))  # fmt: skip
    ticket.title = "New"  # a no-op assignment flushes nothing new
    db.session.flush()
    updates = _logs(AuditLog.entity_id == ticket.id, AuditLog.action == "ticket.updated")
    assert len(updates) == 1
    changes = updates[0].changes
    assert set(changes) == {"title", "status", "resolved_at"}
    assert changes["title"] == {"old": "Old", "new": "New"}
    assert changes["status"] == {"old": "open", "new": "resolved"}
    assert changes["resolved_at"]["old"] is None


def test_tag_links_are_recorded_as_added_and_removed_ids(app):
    a, b = TagFactory(), TagFactory()
    ticket = TicketFactory(tags=[a])
    db.session.flush()
    actor = UserFactory()
    service.update_ticket(ticket, actor=actor, expected_version=None, edit=TicketEdit(tags=[b]))
    logs = {log.action: log.changes for log in _ticket_logs(ticket)}
    assert logs["ticket.tag_added"] == {"tags": {"added": [b.id]}}
    assert logs["ticket.tag_removed"] == {"tags": {"removed": [a.id]}}


def test_soft_delete_restore_and_purge_keep_history(app):
    actor = UserFactory()
    ticket = TicketFactory()
    db.session.flush()
    service.delete_ticket(ticket, actor=actor)
    service.restore_ticket(ticket, actor=actor)
    service.delete_ticket(ticket, actor=actor)
    ticket_id = ticket.id
    service.purge_tickets([ticket])
    actions = [log.action for log in _logs(AuditLog.entity_id == ticket_id,
                                           AuditLog.entity_type == "tickets")]  # fmt: skip
    assert actions == ["ticket.created", "ticket.deleted", "ticket.restored", "ticket.deleted",
                       "ticket.purged"]  # fmt: skip
    purged = _logs(AuditLog.action == "ticket.purged")[0]
    assert purged.changes["title"]["old"] == ticket.title
    assert purged.ticket_id == ticket_id


def test_password_changes_are_recorded_without_the_hash(app):
    user = UserFactory()
    db.session.flush()
    user.password_hash = "pbkdf2:sha256:1$new$hash"
    user.full_name = "Renamed"
    db.session.flush()
    log = _logs(AuditLog.entity_type == "users", AuditLog.action == "user.updated")[-1]
    assert log.changes["password"] == "changed"
    assert "password_hash" not in log.changes
    assert "pbkdf2" not in str(log.changes)
    created = _logs(AuditLog.entity_type == "users", AuditLog.action == "user.created")[-1]
    assert "password_hash" not in created.changes


def test_a_rollback_leaves_neither_change_nor_audit_row(app):
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    savepoint = db.session.begin_nested()
    TicketFactory(title="Never happened")
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) > before
    savepoint.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before
    assert db.session.scalar(sa.select(Ticket.id).where(Ticket.title == "Never happened")) is None


def test_a_failed_request_leaves_no_audit_row(agent_client):
    ticket = TicketFactory()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    # A closed-ticket refusal happens after validation, inside the unit of work.
    ticket.status = TicketStatus.CLOSED
    db.session.flush()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "x"})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before


def test_a_write_without_an_actor_is_a_bug(app):
    token = set_context(None)
    try:
        TicketFactory.build()
        db.session.add(TicketFactory.build(creator=UserFactory.build()))
        with pytest.raises(MissingActorError):
            db.session.flush()
    finally:
        db.session.rollback()
        reset_context(token)


def test_bulk_changes_are_audited_per_ticket_with_old_and_new(app):
    actor = UserFactory()
    tickets = TicketFactory.create_batch(3)
    db.session.flush()
    bulk_update([t.id for t in tickets], action="status", value="waiting_on_customer",
                actor=actor)  # fmt: skip
    logs = _logs(AuditLog.action == "ticket.updated")
    assert sorted(log.entity_id for log in logs) == sorted(t.id for t in tickets)
    assert {log.changes["status"]["old"] for log in logs} == {"open"}
    assert {log.changes["status"]["new"] for log in logs} == {"waiting_on_customer"}
    assert {log.actor_label for log in logs} == {"test"}


def test_unaudited_writes_to_audited_tables_are_refused(app):
    ticket = TicketFactory()
    db.session.flush()
    with pytest.raises(UnauditedWriteError):
        db.session.execute(sa.update(Ticket).where(Ticket.id == ticket.id).values(title="x"))
    db.session.rollback()


def test_the_audit_log_refuses_updates_and_deletes(app):
    TicketFactory()
    db.session.flush()
    with pytest.raises(UnauditedWriteError), db.session.begin_nested():
        db.session.execute(sa.update(AuditLog).values(action="forged"))
    with pytest.raises(UnauditedWriteError), db.session.begin_nested():
        db.session.execute(sa.delete(AuditLog))
    log = _logs()[0]
    log.action = "forged"
    with pytest.raises(UnauditedWriteError), db.session.begin_nested():
        db.session.flush()


def test_the_database_refuses_changes_to_the_log_even_past_the_app(app):
    TicketFactory()
    db.session.flush()
    raw = db.session.connection().connection.dbapi_connection
    cursor = raw.cursor()
    backend = db.session.get_bind().dialect.name
    cursor.execute("SAVEPOINT tamper")
    for statement in ("UPDATE audit_logs SET action = 'forged'", "DELETE FROM audit_logs"):
        with pytest.raises(Exception, match="append-only"):
            cursor.execute(statement)
        cursor.execute("ROLLBACK TO SAVEPOINT tamper")
    if backend == "postgresql":
        with pytest.raises(Exception, match="append-only"):
            cursor.execute("TRUNCATE audit_logs")
        cursor.execute("ROLLBACK TO SAVEPOINT tamper")
    cursor.close()


def test_requests_record_actor_request_id_and_address(app, agent_client, agent, monkeypatch):
    # The proxy's request id is kept (the test client comes from 127.0.0.1).
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", (ipaddress.ip_network("127.0.0.1"),))
    ticket = TicketFactory()
    agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "hi"},
                      headers={"X-Request-ID": "req-audit-1"})  # fmt: skip
    (log,) = _logs(AuditLog.action == "comment.created")
    assert log.actor_id == agent.id
    assert log.request_id == "req-audit-1"
    assert log.remote_addr == "127.0.0.1"
    assert log.source == "web"
    assert log.ticket_id == ticket.id


def test_logins_failures_and_logouts_are_security_events(client, agent):
    client.post("/login", data={"email": agent.email, "password": "wrong password!"})
    client.post("/login", data={"email": agent.email, "password": "correct horse battery"})
    client.post("/logout")
    actions = [(log.action, log.actor_id) for log in _logs(AuditLog.action.like("user.log%"))]
    assert actions == [("user.login_failed", None), ("user.login", agent.id),
                       ("user.logout", agent.id)]  # fmt: skip
    failed = _logs(AuditLog.action == "user.login_failed")[0]
    assert failed.changes == {"email": agent.email}


def test_history_outlives_a_deactivated_actor(app):
    actor = UserFactory()
    with acting_as(actor):
        TicketFactory()
        db.session.flush()
    db.session.get(User, actor.id).is_active = False
    db.session.flush()
    assert _logs(AuditLog.actor_id == actor.id)
