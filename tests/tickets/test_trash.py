import datetime as dt
import io

import sqlalchemy as sa

from supportdesk.attachments.service import accept_upload, attach_files, stored_path
from supportdesk.extensions import db
from supportdesk.models import Attachment, Comment, Ticket
from tests.factories import CommentFactory, TicketFactory, UserFactory


def _numbers(client, query=""):
    text = client.get(f"/tickets/{query}").text
    return text


def test_delete_hides_from_list_and_search_and_restore_brings_back(agent_client, admin, login_as):
    ticket = TicketFactory(title="Unique zebra printer")
    assert "Unique zebra printer" in _numbers(agent_client)
    response = agent_client.post(f"/tickets/{ticket.number}/delete")
    assert response.status_code == 303
    assert "Unique zebra printer" not in _numbers(agent_client)
    assert "zebra</mark> printer" not in _numbers(agent_client, "?q=zebra")
    assert agent_client.get(f"/tickets/{ticket.number}").status_code == 404
    # Agents cannot see the trash or list deleted tickets; after the 30 s of Undo they
    # cannot restore one either.
    assert agent_client.get("/tickets/trash").status_code == 403
    db.session.get(Ticket, ticket.id).deleted_at -= dt.timedelta(seconds=31)
    late = agent_client.post(f"/tickets/{ticket.number}/restore", follow_redirects=True)
    assert "can no longer be undone" in late.text
    assert db.session.get(Ticket, ticket.id).deleted_at is not None
    refused = agent_client.get("/tickets/?include_deleted=y")
    assert "Only admins can list deleted tickets" in refused.text
    assert "Unique zebra printer" not in refused.text

    agent_client.post("/logout")
    login_as(admin)
    trash = agent_client.get("/tickets/trash")
    assert trash.status_code == 200
    assert "Unique zebra printer" in trash.text
    assert "Ana Agent" in trash.text  # who deleted it
    assert trash.headers["X-DB-Query-Count"] == "2"
    assert "Unique zebra printer" in agent_client.get("/tickets/?include_deleted=y").text
    assert agent_client.post(f"/tickets/{ticket.number}/restore").status_code == 303
    assert "Unique <mark>zebra</mark> printer" in _numbers(agent_client, "?q=zebra")
    db.session.expire_all()
    restored = db.session.get(Ticket, ticket.id)
    assert restored.deleted_at is None
    assert restored.deleted_by_id is None


def test_trash_pages_by_deletion_time(admin_client):
    for _ in range(55):
        ticket = TicketFactory()
        admin_client.post(f"/tickets/{ticket.number}/delete")
    first = admin_client.get("/tickets/trash")
    assert first.text.count("<tr>") == 51  # header + 50
    assert "Older →" in first.text
    older = admin_client.get("/tickets/trash?cursor=garbage")
    assert "page link was damaged" in older.text


def test_purge_needs_the_trash_and_confirmation(runner, agent):
    live = TicketFactory()
    trashed = TicketFactory(deleted_at=live.created_at)
    CommentFactory(ticket=trashed)
    pending = accept_upload("notes.txt", io.BytesIO(b"only here"), max_bytes=1024)
    attach_files([pending], ticket_id=trashed.id, uploader=agent)
    stored = stored_path(pending.sha256)
    assert stored.exists()  # deleting kept the file
    refused = runner.invoke(args=["tickets", "purge", live.reference, "--yes"])
    assert refused.exit_code == 1
    assert "delete these first" in refused.output
    unknown = runner.invoke(args=["tickets", "purge", "SD-999999", "--yes"])
    assert unknown.exit_code == 1
    assert "No such ticket" in unknown.output
    aborted = runner.invoke(args=["tickets", "purge", trashed.reference], input="n\n")
    assert aborted.exit_code == 1
    assert db.session.get(Ticket, trashed.id) is not None
    done = runner.invoke(args=["tickets", "purge", str(trashed.number)], input="y\n")
    assert done.exit_code == 0, done.output
    db.session.expire_all()
    assert db.session.get(Ticket, trashed.id) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    assert db.session.get(Ticket, live.id) is not None
    assert not stored.exists()  # the purge swept the file nobody uses any more


def test_undo_right_after_deleting_but_not_someone_elses(agent_client, agent, login_as):
    ticket = TicketFactory(title="Oops deleted")
    deleted = agent_client.post(f"/tickets/{ticket.number}/delete", follow_redirects=True)
    assert f"{ticket.reference} is in the trash." in deleted.text
    assert f'action="/tickets/{ticket.number}/restore"' in deleted.text  # the Undo button
    undone = agent_client.post(f"/tickets/{ticket.number}/restore", follow_redirects=True)
    assert "restored: it is back out of the trash" in undone.text
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).deleted_at is None
    other = TicketFactory(title="Someone else's")
    from supportdesk.tickets import service

    service.delete_ticket(other, actor=UserFactory())
    refused = agent_client.post(f"/tickets/{other.number}/restore", follow_redirects=True)
    assert "can no longer be undone" in refused.text
    db.session.expire_all()
    assert db.session.get(Ticket, other.id).deleted_at is not None
