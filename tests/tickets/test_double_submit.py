"""A form sent twice creates one ticket or comment, never two."""

import re
import threading

import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.models import Comment, Ticket
from tests.conftest import PASSWORD
from tests.factories import TicketFactory
from tests.http import Browserless, hidden


def _count(model, *where):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_the_same_new_ticket_post_five_times_in_a_row(agent_client):
    page = agent_client.get("/tickets/new")
    token = re.search(r'name="form_token" type="hidden" value="([0-9a-f]{32})"', page.text)
    data = {
        "requester": "dbl@example.org",
        "title": "Double click",
        "description": "d",
        "status": "open",
        "priority": "low",
        "assignee": "",
        "form_token": token.group(1),
    }
    locations = {agent_client.post("/tickets/new", data=dict(data)).headers["Location"]
                 for _ in range(5)}  # fmt: skip
    assert len(locations) == 1
    assert _count(Ticket, Ticket.title == "Double click") == 1


def test_the_same_comment_post_five_times_in_a_row(agent_client):
    ticket = TicketFactory()
    page = agent_client.get(f"/tickets/{ticket.number}")
    token = hidden(page.text, "form_token")
    responses = [
        agent_client.post(
            f"/tickets/{ticket.number}/comments", data={"body": "Only once", "form_token": token}
        )  # fmt: skip
        for _ in range(5)
    ]
    assert {r.status_code for r in responses} == {303}
    assert len({r.headers["Location"] for r in responses}) == 1
    assert _count(Comment, Comment.body == "Only once") == 1


def test_a_fresh_form_gets_a_fresh_token(agent_client):
    first = hidden(agent_client.get("/tickets/new").text, "form_token")
    second = hidden(agent_client.get("/tickets/new").text, "form_token")
    assert first != second


def test_the_same_post_five_times_at_once_over_http(live_server):
    client = Browserless(live_server.url)
    client.login(live_server.users["agent"], PASSWORD)
    page = client.request("/tickets/new").text
    form = {"csrf_token": hidden(page), "form_token": hidden(page, "form_token"),
            "requester": "dbl@example.org",
            "title": f"Concurrent {hidden(page, 'form_token')[:8]}", "description": "d",
            "status": "open", "priority": "low", "assignee": ""}  # fmt: skip
    results = []
    start = threading.Barrier(5)

    def send():
        start.wait(timeout=10)
        results.append(client.request("/tickets/new", form))

    threads = [threading.Thread(target=send) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert [r.status for r in results] == [303] * 5, [r.text[:200] for r in results]
    assert len({r.location for r in results}) == 1
    with live_server.app.app_context():
        assert _count(Ticket, Ticket.title == form["title"]) == 1
