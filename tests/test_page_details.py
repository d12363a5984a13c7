"""Details of the pages that a review of the workspace found wrong (#19's "Fix" list)."""

from __future__ import annotations

import re
import urllib.parse
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

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


def test_every_page_has_an_icon_without_a_request_for_it(app, agent_client):
    html = agent_client.get("/tickets/").text
    icon = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', html).group(1)
    assert icon.startswith("data:image/svg+xml,")  # allowed by the CSP's img-src data:
    assert "<svg" in urllib.parse.unquote(icon)
    assert 'rel="icon"' in app.test_client().get("/login").text


def test_the_colour_input_is_not_marked_required(admin_client):
    html = admin_client.get("/tags/new").text
    colour = re.search(r"<input[^>]*type=\"color\"[^>]*>", html).group(0)
    assert "required" not in colour


def test_the_audit_pager_is_a_labelled_navigation(admin_client):
    for _ in range(30):  # more audit rows than a page
        TicketFactory()
    html = admin_client.get("/audit/").text
    assert '<nav class="pager" aria-label="Audit pages">' in html


def test_the_audit_page_reads_as_sentences_with_raw_json_behind_a_fold(admin_client, admin):
    from supportdesk.tickets import service
    from supportdesk.tickets.models import TicketStatus

    ticket = TicketFactory()
    service.change_status(ticket, TicketStatus.RESOLVED, actor=admin)
    html = admin_client.get("/audit/?action=ticket.updated").text
    assert "status: open → resolved" in html
    assert "<details><summary>raw</summary>" in html
    # Rows written outside a request (here: by the test) have no request id: no empty link.
    assert '<a href="/audit/?request_id=None"' not in html
    assert not re.search(r'<a href="[^"]*request_id=[^"]*"[^>]*><code></code></a>', html)


def test_the_audit_actor_filter_is_a_name_picker_and_admins_find_the_page(admin_client, admin):
    html = admin_client.get("/tickets/").text
    assert '<a href="/audit/"' in html
    page = admin_client.get(f"/audit/?actor={admin.id}").text
    assert f'<option selected value="{admin.id}">{admin.full_name} ({admin.email})</option>' in page
    bad = admin_client.get("/audit/?actor=abc")
    assert bad.status_code == 200
    assert "Who: " in bad.text
    assert "The filter was ignored." in bad.text


def test_the_ticket_page_renders_without_csrf_too(app, agent_client, monkeypatch):
    # The bench runs the app with CSRF off (its forms then have no csrf_token field).
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    ticket = TicketFactory()
    assert agent_client.get(f"/tickets/{ticket.number}").status_code == 200


def test_chart_ticks_are_whole_numbers_drawn_where_they_belong():
    from hypothesis import given
    from hypothesis import strategies as st

    from supportdesk.reports import charts

    @given(st.integers(min_value=0, max_value=10**7))
    def check(peak):
        top = charts.nice_max(peak)
        values = charts.tick_values(top)
        assert values[0] == 0
        assert values[-1] == top >= peak
        assert all(isinstance(v, int) for v in values)

    check()
    assert charts.tick_values(5) == [0, 1, 2, 3, 4, 5]  # not 0, "2" (at 2.5), 5
    assert charts.tick_values(100) == [0, 50, 100]


def test_durations_read_as_days_and_hours():
    from supportdesk.reports.charts import duration_label

    assert [duration_label(h) for h in (None, 0.25, 1, 5.4, 24, 55.2, 1000)] == [
        "—",
        "15 min",
        "1 h",
        "5 h",
        "1 d",
        "2 d 7 h",
        "41 d 16 h",
    ]


def test_the_reports_page_shows_durations_as_days_and_hours(agent_client, admin):
    import datetime as dt

    from supportdesk.db import utcnow
    from supportdesk.tickets import service
    from supportdesk.tickets.models import TicketStatus

    ticket = TicketFactory(created_at=utcnow() - dt.timedelta(hours=55))
    service.change_status(ticket, TicketStatus.RESOLVED, actor=admin)
    html = agent_client.get("/reports/").text
    assert "2 d 7 h" in html


def _reloaded(ticket_id):
    """The ticket as stored now, with its tags."""
    from supportdesk.extensions import db
    from supportdesk.models import Ticket

    db.session.expire_all()
    return db.session.scalars(
        sa.select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.tags))
        .execution_options(populate_existing=True)
    ).one()  # fmt: skip


def test_the_side_panel_saves_status_priority_assignee_and_tags_in_one_form(agent_client,
                                                                           agent):  # fmt: skip
    from tests.factories import TagFactory

    ticket = TicketFactory(priority="low")
    vip, billing = TagFactory(name="vip"), TagFactory(name="billing")
    page = agent_client.get(f"/tickets/{ticket.number}").text
    version = re.search(
        r'name="version" type="hidden" value="(\d+)" id="quick-version"|'
        r'id="quick-version" name="version" type="hidden" value="(\d+)"',
        page,
    )
    assert version
    saved = agent_client.post(f"/tickets/{ticket.number}/update", data={
        "status": "in_progress", "priority": "high", "assignee": str(agent.id),
        "tags": [str(vip.id), str(billing.id)], "tags_shown": "1",
        "version": ticket.version})  # fmt: skip
    assert saved.status_code == 303
    fresh = _reloaded(ticket.id)
    assert (fresh.status.value, fresh.priority.value, fresh.assignee_id) == (
        "in_progress",
        "high",
        agent.id,
    )
    assert sorted(t.name for t in fresh.tags) == ["billing", "vip"]
    # Every tag taken off (the select sends nothing; tags_shown says it was there).
    agent_client.post(f"/tickets/{ticket.number}/update", data={
        "status": "in_progress", "assignee": str(agent.id), "tags_shown": "1",
        "version": fresh.version})  # fmt: skip
    fresh = _reloaded(ticket.id)
    assert fresh.tags == []
    assert fresh.priority.value == "high"  # not in the form: kept


def test_send_and_set_status_does_both_in_one_request(agent_client):
    from supportdesk.audit.models import AuditLog
    from supportdesk.extensions import db
    from supportdesk.models import Ticket

    ticket = TicketFactory()
    page = agent_client.get(f"/tickets/{ticket.number}").text
    assert 'name="then_status" value="resolved"' in page
    assert ">Send reply</button>" in page
    token = re.search(r'name="form_token" type="hidden" value="([^"]+)"', page).group(1)
    sent = agent_client.post(f"/tickets/{ticket.number}/comments", data={
        "body": "Fixed, closing.", "is_internal": "", "then_status": "resolved",
        "form_token": token}, follow_redirects=True)  # fmt: skip
    assert "Reply added; changed status." in sent.text
    db.session.expire_all()
    fresh = db.session.get(Ticket, ticket.id)
    assert fresh.status.value == "resolved"
    rows = db.session.scalars(sa_select_audit(AuditLog, ticket.id)).all()
    assert {r.action for r in rows} >= {"comment.created", "ticket.updated"}
    assert len({r.request_id for r in rows if r.action in ("comment.created",
                                                           "ticket.updated")}) == 1  # fmt: skip
    bad = agent_client.post(f"/tickets/{ticket.number}/comments", data={
        "body": "x", "then_status": "closed"})  # fmt: skip
    assert bad.status_code == 422


def sa_select_audit(model, ticket_id):
    return sa.select(model).where(model.ticket_id == ticket_id)


@pytest.mark.parametrize("typed", ["the", "The AND of", "to be or not to be"])
def test_a_search_of_only_stop_words_is_refused_on_every_backend(agent_client, typed):
    TicketFactory(title="The printer and the tray")
    page = agent_client.get("/tickets/", query_string={"q": typed})
    assert page.status_code == 200
    assert "only very common words" in page.text
    # Not refused: a real word beside them, or a stop word only excluded.
    fine = agent_client.get("/tickets/", query_string={"q": "the printer"})
    assert "only very common words" not in fine.text


def test_the_audit_page_names_tickets_tags_and_people_with_links(admin_client, admin):
    from tests.factories import TagFactory, UserFactory

    ticket = TicketFactory()
    tag = TagFactory(name="escalated")
    person = UserFactory(full_name="Pat Person")
    html = admin_client.get("/audit/").text
    assert f'<a href="/tickets/{ticket.number}">{ticket.reference}</a>' in html
    assert f'<a href="/tags/{tag.id}/edit">tag escalated</a>' in html
    assert ">Pat Person</a>" in html
    assert person.id
