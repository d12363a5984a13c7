"""Details of the pages that a review of the workspace found wrong (#19's "Fix" list)."""

from __future__ import annotations

import re
from collections import Counter

from tests.factories import CommentFactory, TicketFactory


def test_the_ticket_page_has_unique_element_ids(agent_client):
    ticket = TicketFactory()
    html = agent_client.get(f"/tickets/{ticket.number}").text
    ids = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [i for i, n in ids.items() if n > 1] == []
    assert 'id="quick-version"' in html
    assert 'id="version"' in html


def test_replies_and_notes_are_counted_apart_in_good_english(agent_client):
    ticket = TicketFactory()
    CommentFactory(ticket=ticket)
    html = agent_client.get(f"/tickets/{ticket.number}").text
    assert "(1 reply · 0 notes)" in html
    CommentFactory(ticket=ticket)
    CommentFactory(ticket=ticket, is_internal=True)
    assert "(2 replies · 1 note)" in agent_client.get(f"/tickets/{ticket.number}").text


def test_a_missing_page_says_so_in_plain_words(agent_client):
    response = agent_client.get("/no/such/page")
    assert response.status_code == 404
    assert "check your spelling" not in response.text
    assert "There is nothing at this address" in response.text


def test_every_page_names_its_icon_and_the_icon_is_served(app, agent_client):
    html = agent_client.get("/tickets/").text
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html).group(1)
    visitor = app.test_client()
    served = visitor.get(icon)
    assert served.status_code == 200
    assert served.mimetype == "image/svg+xml"
    assert b"<svg" in served.get_data()
    served.close()
    assert 'rel="icon"' in visitor.get("/login").text


def test_the_colour_input_is_not_marked_required(admin_client):
    html = admin_client.get("/tags/new").text
    colour = re.search(r"<input[^>]*type=\"color\"[^>]*>", html).group(0)
    assert "required" not in colour


def test_the_audit_pager_is_a_labelled_navigation(admin_client):
    for _ in range(30):  # more audit rows than a page
        TicketFactory()
    html = admin_client.get("/audit/").text
    assert '<nav class="pager" aria-label="Audit pages">' in html
