"""SLA due times: stamped by the rules, shown and sorted, migrated and backfilled safely."""

import datetime as dt
import uuid

import flask_migrate
import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.audit.listeners import audited_bulk
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import AuditLog, Ticket, TicketPriority, TicketStatus
from supportdesk.tickets import backfill, service
from supportdesk.tickets.numbering import reserve_ticket_numbers
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CustomerFactory, TicketFactory, UserFactory

P = TicketPriority
SLA = {P.URGENT: dt.timedelta(hours=4), P.HIGH: dt.timedelta(hours=24),
       P.MEDIUM: dt.timedelta(hours=72), P.LOW: dt.timedelta(hours=168)}  # fmt: skip


def test_due_time_is_created_plus_the_priority_sla_and_follows_the_priority(app):
    agent = UserFactory()
    ticket = service.create_ticket(
        requester=CustomerFactory(), title="Down", description="x", creator=agent, priority=P.URGENT
    )
    assert ticket.due_at == ticket.created_at + dt.timedelta(hours=4)
    service.update_ticket(ticket, actor=agent, expected_version=None,
                          edit=TicketEdit(priority=P.LOW))  # fmt: skip
    assert ticket.due_at == ticket.created_at + dt.timedelta(hours=168)
    service.update_ticket(ticket, actor=agent, expected_version=None,
                          edit=TicketEdit(title="Still down"))  # fmt: skip
    assert ticket.due_at == ticket.created_at + dt.timedelta(hours=168)


def test_the_list_sorts_by_due_time_and_marks_overdue_tickets(agent_client):
    now = utcnow()
    late = TicketFactory(
        title="Late one", priority=P.URGENT, created_at=now - dt.timedelta(hours=9)
    )
    soon = TicketFactory(title="Soon one", priority=P.HIGH, created_at=now)
    done = TicketFactory(title="Done one", priority=P.URGENT, status=TicketStatus.RESOLVED,
                         created_at=now - dt.timedelta(hours=30))  # fmt: skip
    page = agent_client.get("/tickets/", query_string={"sort": "due", "dir": "asc"})
    text = page.text
    assert page.headers["X-DB-Query-Count"] == "4"  # with the sidebar's counts
    assert text.index("Done one") < text.index("Late one") < text.index("Soon one")
    rows = text.split("<tr")
    assert "overdue</span>" in next(r for r in rows if "Late one" in r)
    assert "overdue</span>" not in next(r for r in rows if "Soon one" in r)
    assert "overdue</span>" not in next(r for r in rows if "Done one" in r)  # resolved
    detail = agent_client.get(f"/tickets/{late.number}").text
    assert late.due_at.strftime("%Y-%m-%d %H:%M") in detail
    assert "badge-overdue" in detail
    assert "badge-overdue" not in agent_client.get(f"/tickets/{soon.number}").text
    assert done.due_at < late.due_at


def _blank_due_times(count):
    """Write tickets as a desk at this (older) revision had them: only its columns."""
    with acting_as("test"):
        now = dt.datetime.now(dt.UTC)
        # Core, not the factory: the User model has columns of later revisions.
        columns = ("id", "email", "full_name", "password_hash", "role", "created_at",
                   "updated_at")  # fmt: skip
        users = sa.table("users", *[sa.column(name) for name in columns])
        with audited_bulk():
            agent_id = db.session.execute(sa.insert(users).values(
                email=f"old-{uuid.uuid4().hex[:8]}@example.com", full_name="Old Agent",
                password_hash="x", role="agent", created_at=now, updated_at=now,
            ).returning(users.c.id)).scalar_one()  # fmt: skip
        rows = [{"number": reserve_ticket_numbers(db.session, 1)[0], "title": f"Old {i}",
                 "description": "d", "status": "open", "priority": list(P)[i % 4].rank,
                 "creator_id": agent_id, "version": 1, "created_at": now - dt.timedelta(hours=i),
                 "updated_at": now} for i in range(count)]  # fmt: skip
        tickets = sa.table("tickets", *[sa.column(name) for name in rows[0]])
        with audited_bulk():  # as if they were created before the column existed
            db.session.execute(sa.insert(tickets), rows)
        db.session.commit()


def test_three_step_migration_with_the_backfill_command_in_between(fresh_app, capsys):
    runner = fresh_app.test_cli_runner()
    with fresh_app.app_context():
        flask_migrate.upgrade(revision="e1f2a3b4c5d6")  # the nullable column, filled
        _blank_due_times(11)  # tickets written before, or a desk too big to fill there
        # The NOT NULL step refuses while a ticket has no due time (`flask db upgrade`
        # exits 1 with the message), and changes nothing.
        with pytest.raises(SystemExit) as stopped:
            flask_migrate.upgrade(revision="f2a3b4c5d6e7")
        assert stopped.value.code == 1
        assert "11 tickets have no due time yet: run `flask backfill due-at`" in (
            capsys.readouterr().err
        )
        assert db.session.scalar(sa.text("SELECT version_num FROM alembic_version")) == (
            "e1f2a3b4c5d6"
        )
    # An interrupted run keeps its committed batches; the rerun finishes the rest.
    with fresh_app.app_context():
        calls = []

        def interrupt(n):
            calls.append(n)
            if len(calls) == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            backfill.backfill_due_at(batch_size=4, progress=interrupt)
        left = backfill.missing_due_at()
        db.session.remove()
    assert 0 < left < 11
    result = runner.invoke(args=["backfill", "due-at", "--batch-size", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"Stamped the due time on {left} tickets." in result.output
    again = runner.invoke(args=["backfill", "due-at"])
    assert "nothing to do" in again.output
    with fresh_app.app_context():
        tickets = db.session.execute(
            sa.select(Ticket.due_at, Ticket.created_at, Ticket.priority)
        ).all()
        hours = {P.URGENT: 4, P.HIGH: 24, P.MEDIUM: 72, P.LOW: 168}
        wrong = [(t.created_at, t.priority, t.due_at) for t in tickets
                 if t.due_at != t.created_at + dt.timedelta(hours=hours[t.priority])]  # fmt: skip
        assert wrong == []  # (created_at, priority, due_at) of any that is off, to see why
        events = db.session.scalars(
            sa.select(AuditLog.changes).where(AuditLog.action == "ticket.due_at_backfilled")
        ).all()
        assert [e["tickets"] for e in events] == [left]  # the interrupted run recorded none
        db.session.remove()  # end the read transaction: the last step needs the table
        flask_migrate.upgrade()
        column = next(c for c in sa.inspect(db.engine).get_columns("tickets")
                      if c["name"] == "due_at")  # fmt: skip
        if db.engine.dialect.name == "postgresql":
            assert column["nullable"] is False
        db.session.remove()


def test_the_migration_fills_a_small_desk_itself(fresh_app):
    with fresh_app.app_context():
        flask_migrate.upgrade(revision="d0e1f2a3b4c5")
        _blank_due_times(6)
        flask_migrate.upgrade()
        assert backfill.missing_due_at() == 0
        for ticket in db.session.execute(
            sa.select(Ticket.due_at, Ticket.created_at, Ticket.priority)
        ):
            assert ticket.due_at == ticket.created_at + SLA[ticket.priority]
        db.session.remove()


def test_batch_size_must_be_positive(app, runner):
    result = runner.invoke(args=["backfill", "due-at", "--batch-size", "0"])
    assert result.exit_code == 2
    assert "0 is not in the range" in result.output
