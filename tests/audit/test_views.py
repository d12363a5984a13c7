import csv
import io

import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.models import TicketPriority
from supportdesk.tickets import service
from supportdesk.tickets.rules import TicketEdit
from tests.factories import TicketFactory, UserFactory


def test_ticket_page_shows_a_readable_history_merged_with_comments(agent_client, agent):
    ticket = TicketFactory(tags=[])
    db.session.flush()
    service.update_ticket(ticket, actor=agent, expected_version=None,
                          edit=TicketEdit(priority=TicketPriority.URGENT))  # fmt: skip
    agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "Looking now"})
    page = agent_client.get(f"/tickets/{ticket.number}")
    text = page.text
    assert "created the ticket" in text
    assert "set priority medium → urgent" in text
    assert text.index("set priority medium → urgent") < text.index("Looking now")
    # 5 + history, "seen", deliveries (no files, no macros: neither of their statements)
    assert page.headers["X-DB-Query-Count"] == "7"


def test_audit_list_is_for_admins_with_filters_and_paging(admin_client):
    creator = UserFactory()
    for _ in range(60):
        TicketFactory(creator=creator)
    assert admin_client.get("/audit/").status_code == 200
    page = admin_client.get("/audit/?action=ticket.created")
    assert page.text.count("<code>ticket.created</code>") == 50
    assert "Older →" in page.text
    # the admin; the staff for the "Who" picker; the page of entries with their actors;
    # what they are about (ticket numbers, tag and people names: one UNION)
    assert page.headers["X-DB-Query-Count"] == "4"
    bad = admin_client.get("/audit/?actor=abc&since=2024-99-99")
    assert bad.status_code == 200
    assert "The filter was ignored." in bad.text


def test_agents_cannot_read_the_audit_log(login_as):
    client = login_as(UserFactory())
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/export.csv").status_code == 403
    assert client.post("/audit/seal").status_code == 403


def test_csv_export_streams_the_filtered_log_and_neutralises_formulas(admin_client):
    TicketFactory(title='=HYPERLINK("http://evil")')
    TicketFactory(title="harmless")
    response = admin_client.get("/audit/export.csv?action=ticket.created")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:6] == ["id", "occurred_at", "actor_id", "actor_label", "source", "action"]
    assert len(rows) == 3
    assert all(row[5] == "ticket.created" for row in rows[1:])
    changes = [row[9] for row in rows[1:]]
    assert not any(cell.startswith("=") for row in rows for cell in row)
    assert any("HYPERLINK" in c for c in changes)


def test_sealing_from_the_ui_records_a_seal(admin_client):
    TicketFactory()
    response = admin_client.post("/audit/seal")
    assert response.status_code == 303
    follow = admin_client.get("/audit/")
    assert "Nothing to seal" in follow.text  # all rows are younger than the margin


def test_audit_cli_show_verify_and_seal(runner):
    ticket = TicketFactory(title="CLI history")
    db.session.flush()
    shown = runner.invoke(args=["audit", "show", ticket.reference])
    assert shown.exit_code == 0, shown.output
    assert "created the ticket" in shown.output
    as_json = runner.invoke(args=["audit", "show", str(ticket.number), "--json"])
    assert '"action": "ticket.created"' in as_json.output
    assert runner.invoke(args=["audit", "show", "SD-999999"]).exit_code == 1
    verified = runner.invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert "OK:" in verified.output
    assert runner.invoke(args=["audit", "seal"]).output.strip() == "Nothing to seal."
    refused = runner.invoke(args=["audit", "prune", "--before", "2999-01-01", "--yes"])
    assert refused.exit_code == 1
    assert "younger than" in refused.output


def test_cli_changes_are_attributed_to_the_command(runner):
    runner.invoke(args=["create-user", "cli@example.com", "--name", "C", "--password-stdin"],
                  input="a long enough password\n")  # fmt: skip
    log = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "user.created").order_by(AuditLog.id.desc())
    ).first()
    assert (log.actor_id, log.actor_label, log.source) == (None, "cli:create-user", "cli")
