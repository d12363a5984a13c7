import datetime as dt
import io
import re

import pytest
import sqlalchemy as sa

from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import Comment, Ticket, TicketPriority, TicketStatus
from supportdesk.tickets import service
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CommentFactory, MacroFactory, TagFactory, TicketFactory, UserFactory


def _numbers(response):
    """Ticket numbers in list order, read from the rows' links."""
    return [int(n) for n in re.findall(r'<td class="num"><a href="/tickets/(\d+)"', response.text)]


def _cursor(response, rel):
    match = re.search(rf'<a rel="{rel}" href="([^"]+)"', response.text)
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def now():
    return utcnow()


def _make(now, minutes_ago, **kwargs):
    return TicketFactory(created_at=now - dt.timedelta(minutes=minutes_ago), **kwargs)


def test_empty_desk_shows_a_friendly_empty_state(agent_client):
    response = agent_client.get("/tickets/")
    assert response.status_code == 200
    assert "No tickets yet" in response.text


def test_list_shows_a_page_of_25_with_every_column(agent_client, now):
    bea = UserFactory(full_name="Bea Assignee")
    billing = TagFactory(name="billing", colour="#ff0000")
    tickets = [_make(now, i, title=f"Ticket {i:02d}", tags=[]) for i in range(30)]
    tickets[0].assignee = bea
    tickets[0].status = TicketStatus.WAITING_ON_CUSTOMER
    tickets[0].priority = TicketPriority.URGENT
    tickets[0].tags = [billing]
    CommentFactory.create_batch(2, ticket=tickets[0])
    CommentFactory(ticket=tickets[0], body="Any news?\nThe printer  still jams.")
    CommentFactory(ticket=tickets[0], body="Internal: call the vendor", is_internal=True)
    response = agent_client.get("/tickets/")
    text = response.text
    assert _numbers(response) == [t.number for t in tickets[:25]]
    assert "Bea Assignee" in text
    assert "Waiting on customer" in text
    assert "!! Urgent" in text  # readable without colour
    assert 'style="--chip: #ff0000">billing</span>' in text
    # The latest public message previews under the title, on one line (notes never).
    assert '<span class="preview">Any news? The printer still jams.</span>' in text
    assert "call the vendor" not in text
    assert '<span class="preview">It was fine yesterday.</span>' in text  # no reply yet
    assert "30 matching" in text


def test_deleted_tickets_are_not_listed(agent_client):
    TicketFactory(title="Still here")
    TicketFactory(title="Thrown away", deleted_at=utcnow())
    text = agent_client.get("/tickets/").text
    assert "Still here" in text
    assert "Thrown away" not in text


def test_filters_combine(agent_client, agent, now):
    other = UserFactory()
    billing, vip = TagFactory(name="billing"), TagFactory(name="vip")
    match = _make(now, 1, status=TicketStatus.OPEN, priority=TicketPriority.HIGH,
                  assignee=agent, tags=[billing, vip])  # fmt: skip
    _make(now, 2, status=TicketStatus.OPEN, priority=TicketPriority.HIGH, assignee=agent,
          tags=[billing])  # fmt: skip
    _make(now, 3, status=TicketStatus.CLOSED, priority=TicketPriority.HIGH, assignee=agent,
          tags=[billing, vip])  # fmt: skip
    _make(now, 4, status=TicketStatus.OPEN, priority=TicketPriority.LOW, assignee=agent,
          tags=[billing, vip])  # fmt: skip
    _make(now, 5, status=TicketStatus.OPEN, priority=TicketPriority.HIGH, assignee=other,
          tags=[billing, vip])  # fmt: skip
    query = {"status": ["open", "in_progress"], "priority": ["high", "urgent"],
             "assignee": "me", "tag": [billing.id, vip.id]}  # fmt: skip
    response = agent_client.get("/tickets/", query_string=query)
    assert _numbers(response) == [match.number]


@pytest.mark.parametrize("who", ["none", "id"])
def test_assignee_filter_none_and_id(agent_client, agent, now, who):
    mine = _make(now, 1, assignee=agent)
    nobody = _make(now, 2)
    value = "none" if who == "none" else str(agent.id)
    response = agent_client.get("/tickets/", query_string={"assignee": value})
    assert _numbers(response) == [nobody.number if who == "none" else mine.number]


def test_created_range_and_text_search(agent_client, now):
    old = TicketFactory(title="Old printer", created_at=now - dt.timedelta(days=40))
    new = TicketFactory(title="New printer", description="toner 100% empty")
    day = (now - dt.timedelta(days=41)).date().isoformat()
    to = (now - dt.timedelta(days=39)).date().isoformat()
    ranged = agent_client.get("/tickets/", query_string={"created_from": day, "created_to": to})
    assert _numbers(ranged) == [old.number]
    assert _numbers(agent_client.get("/tickets/?q=PRINTER")) == [new.number, old.number]
    assert _numbers(agent_client.get("/tickets/?q=100%25")) == [new.number]
    assert _numbers(agent_client.get("/tickets/?q=1_0")) == []  # _ is not a wildcard
    # A ticket number jumps straight to the ticket.
    for typed in (f"SD-{old.number}", f"sd{old.number}", f" {old.number} "):
        response = agent_client.get("/tickets/", query_string={"q": typed})
        assert response.status_code == 302, typed
        assert response.headers["Location"].endswith(f"/tickets/{old.number}")


def test_priority_sort_puts_urgent_first_and_number_sort_ascends(agent_client, now):
    low = _make(now, 1, priority=TicketPriority.LOW)
    urgent = _make(now, 2, priority=TicketPriority.URGENT)
    high = _make(now, 3, priority=TicketPriority.HIGH)
    by_priority = agent_client.get("/tickets/?sort=priority&dir=desc")
    assert _numbers(by_priority) == [urgent.number, high.number, low.number]
    by_number = agent_client.get("/tickets/?sort=number&dir=asc")
    assert _numbers(by_number) == sorted([low.number, urgent.number, high.number])


@pytest.mark.parametrize("sort", ["created", "updated", "priority", "number"])
def test_keyset_paging_walks_every_ticket_once_both_ways(agent_client, now, sort):
    priorities = list(TicketPriority)
    for i in range(60):
        # Equal timestamps in pairs prove the id tie-break keeps paging exact.
        _make(now, i // 2, priority=priorities[i % 4], updated_at=now - dt.timedelta(hours=i // 2))
    first = agent_client.get(f"/tickets/?sort={sort}&status=open")
    seen = _numbers(first)
    pages = [seen]
    url = _cursor(first, "next")
    while url:
        response = agent_client.get(url)
        assert response.status_code == 200
        pages.append(_numbers(response))
        url = _cursor(response, "next")
    everything = [n for page in pages for n in page]
    assert [len(p) for p in pages] == [25, 25, 10]
    assert len(set(everything)) == 60
    # Walk back from the last page.
    back = agent_client.get(url or _cursor(agent_client.get(_last_url(agent_client, first)),
                                           "prev"))  # fmt: skip
    assert _numbers(back) == pages[1]
    assert _cursor(first, "prev") is None


def _last_url(client, first):
    url = _cursor(first, "next")
    last = url
    while url:
        last = url
        url = _cursor(client.get(url), "next")
    return last


def test_tampered_cursor_shows_a_message_and_the_first_page(agent_client, now):
    for i in range(30):
        _make(now, i)
    first = agent_client.get("/tickets/")
    nxt = _cursor(first, "next")
    token = re.search(r"cursor=([^&]+)", nxt).group(1)
    forged = agent_client.get("/tickets/", query_string={"cursor": token[:-3] + "abc"})
    assert forged.status_code == 200
    assert "page link was damaged" in forged.text
    assert _numbers(forged) == _numbers(first)
    other_sort = agent_client.get("/tickets/", query_string={"cursor": token, "sort": "number"})
    assert "another sort" in other_sort.text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=nonsense", "Status:"),
        ("priority=extreme", "Priority:"),
        ("assignee=everyone", "Assignee:"),
        ("tag=abc", "Tags:"),
        ("created_from=2024-13-45", "Created from:"),
        ("sort=colour", "Sort by:"),
    ],
)
def test_invalid_filter_values_get_a_message_not_a_500(agent_client, now, query, message):
    ticket = _make(now, 1)
    response = agent_client.get(f"/tickets/?{query}")
    assert response.status_code == 200
    assert message in response.text
    assert "The filter was ignored." in response.text
    assert _numbers(response) == [ticket.number]  # the invalid filter is dropped


def test_list_query_budget_is_three_for_1_and_25_rows_and_any_filters(agent_client, agent, now):
    assignees = UserFactory.create_batch(3)
    tags = TagFactory.create_batch(3)
    _make(now, 0, assignee=assignees[0], tags=tags[:2])
    one = agent_client.get("/tickets/")
    for i in range(30):
        ticket = _make(now, i + 1, assignee=assignees[i % 3], tags=[tags[i % 3]])
        CommentFactory(ticket=ticket)
    many = agent_client.get("/tickets/")
    filtered = agent_client.get(
        "/tickets/",
        query_string={"status": "open", "priority": "medium", "tag": tags[0].id, "q": "fire",
                      "assignee": str(assignees[0].id), "created_from": "2020-01-01",
                      "sort": "priority"},
    )  # fmt: skip
    deep = agent_client.get(_cursor(many, "next"))
    assert len(_numbers(one)) == 1
    assert len(_numbers(many)) == 25
    assert len(_numbers(filtered)) == 11
    # user, filter options (tags + staff), ticket rows (+assignee, counts, tag ids,
    # preview), the sidebar's view counts (all of them in one statement)
    for response in (one, many, filtered, deep):
        assert response.headers["X-DB-Query-Count"] == "4"
        assert float(response.headers["X-DB-Query-Time-Ms"]) >= 0
    # Each row's tags, named from the filter options and sorted by name.
    first = re.search(r"<tr>.*?</tr>", one.text.split("<tbody>", 1)[1], flags=re.S).group(0)
    names = sorted(t.name for t in tags[:2])
    assert re.findall(r'<span class="chip" style="--chip: [^"]*">([^<]*)</span>', first) == names


def test_saved_views_are_filter_links_with_live_counts(agent_client, agent, now):
    mine = _make(now, 1, assignee=agent, status=TicketStatus.IN_PROGRESS)
    _make(now, 2, assignee=agent, status=TicketStatus.CLOSED)
    _make(now, 3, status=TicketStatus.OPEN, priority=TicketPriority.URGENT)
    page = agent_client.get("/tickets/")
    views = dict((label, (href, count)) for href, label, count in re.findall(
        r'<li><a href="([^"]+)">([^<]+?) <span class="count">([^<]+)</span></a></li>',
        page.text))  # fmt: skip
    assert views["Mine"][1] == "1"
    assert views["All open"][1] == "2"
    assert views["Urgent"][1] == "1"
    assert views["Unassigned"][1] == "1"
    assert views["Overdue"][1] == "0"
    assert set(views) == {"All open", "Mine", "Unassigned", "Urgent", "Waiting on customer",
                          "Following", "Overdue"}  # fmt: skip
    followed = agent_client.get(views["Mine"][0].replace("&amp;", "&"))
    assert _numbers(followed) == [mine.number]
    assert re.search(r'<a href="[^"]+" aria-current="page">Mine <span', followed.text)


def test_ticket_page_shows_everything_within_nine_statements(agent_client):
    tags = TagFactory.create_batch(10)
    ticket = TicketFactory(tags=tags, assignee=UserFactory(full_name="Cleo Assigned"))
    bare = TicketFactory()  # no files; with no macros either, two statements fewer
    first = agent_client.get(f"/tickets/{bare.number}")
    assert first.headers["X-DB-Query-Count"] == "7"
    authors = UserFactory.create_batch(4)
    for i in range(200):
        CommentFactory(ticket=ticket, author=authors[i % 4], is_internal=i % 5 == 0,
                       body=f"comment body {i}")  # fmt: skip
    MacroFactory.create_batch(12, set_status=TicketStatus.RESOLVED)
    sent = agent_client.post(f"/tickets/{ticket.number}/comments", data={
        "body": "The log", "attachments": [(io.BytesIO(b"ERROR x\n"), "app.log")]},
        content_type="multipart/form-data")  # fmt: skip
    assert sent.status_code == 303
    response = agent_client.get(f"/tickets/{ticket.number}")
    assert response.status_code == 200
    # user; "seen" for followers (one UPDATE, which also says whether I follow it); ticket
    # with people and tags (and whether it has files); comments with authors; its
    # attachments (only when it has some); staff, tag and macro choices; the ticket's
    # history (the audit timeline); the macros the reply box offers with their texts
    # (only when there are macros); the email deliveries of its public replies. The
    # requester, the CCs and the requester's ticket counts ride in the ticket statement.
    assert response.headers["X-DB-Query-Count"] == "9"
    assert "app.log" in response.text
    assert agent_client.get(f"/tickets/{bare.number}").headers["X-DB-Query-Count"] == "8"
    assert response.text.count("(also changes the ticket)</option>") == 12
    text = response.text
    assert text.count('class="comment internal"') == 40
    assert text.count('class="comment"') == 161  # and the reply with the file
    assert "comment body 199" in text
    assert "Cleo Assigned" in text
    for tag in tags:
        assert f">{tag.name}</span>" in text


def test_unknown_ticket_is_404(agent_client):
    assert agent_client.get("/tickets/999999").status_code == 404


def test_create_ticket_redirects_303_to_its_page(agent_client, agent):
    tag = TagFactory(name="printer")
    response = agent_client.post(
        "/tickets/new",
        data={
            "requester": "Pat <pat@example.org>",
            "title": "Paper jam",
            "description": "Tray 2",
            "status": "open",
            "priority": "high",
            "assignee": str(agent.id),
            "tags": [str(tag.id)],
        },
    )
    assert response.status_code == 303
    ticket = db.session.scalar(sa.select(Ticket).where(Ticket.title == "Paper jam"))
    assert response.headers["Location"] == f"/tickets/{ticket.number}"
    assert ticket.assignee_id == agent.id
    assert ticket.priority == TicketPriority.HIGH
    page = agent_client.get(response.headers["Location"])
    assert "Paper jam" in page.text
    assert ">printer</span>" in page.text


def test_create_errors_keep_what_was_typed(agent_client):
    response = agent_client.post(
        "/tickets/new",
        data={
            "requester": "pat@example.org",
            "title": "",
            "description": "A long story I typed",
            "status": "open",
            "priority": "nonsense",
            "assignee": "999999",
        },
    )
    assert response.status_code == 422
    assert "A long story I typed" in response.text
    assert "This field is required." in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_only_admins_create_tags_inline(agent_client, admin, login_as):
    data = {
        "requester": "pat@example.org",
        "title": "t",
        "description": "d",
        "status": "open",
        "priority": "low",
        "assignee": "",
        "new_tags": "Brand New",
    }
    refused = agent_client.post("/tickets/new", data=data)
    assert refused.status_code == 422
    assert "Only admins can create tags." in refused.text
    agent_client.post("/logout")
    login_as(admin)
    created = agent_client.post("/tickets/new", data=data)
    assert created.status_code == 303
    page = agent_client.get(created.headers["Location"])
    assert ">Brand New</span>" in page.text


def _edit_form(client, number):
    page = client.get(f"/tickets/{number}/edit")
    assert page.status_code == 200
    fields = dict(re.findall(r'name="(version|original)"[^>]*value="([^"]*)"', page.text))
    if "original" not in fields:
        fields.update(re.findall(r'value="([^"]*)"[^>]*name="(original)"', page.text)[::-1])
    return {k: v.replace("&#34;", '"').replace("&quot;", '"') for k, v in fields.items()}


def _form_data(ticket, hidden, **changes):
    data = {"title": ticket.title, "description": ticket.description,
            "status": ticket.status.value, "priority": ticket.priority.value,
            "assignee": str(ticket.assignee_id or ""), "tags": [],
            "version": hidden["version"], "original": hidden["original"]}  # fmt: skip
    data.update(changes)
    return data


def test_two_agents_editing_one_ticket_conflict_and_both_intentions_survive(app, agent, login_as):
    bob = UserFactory(full_name="Bob Second")
    ticket = TicketFactory(title="Printer broken", description="Original text")
    a = login_as(agent)
    b = app.test_client()
    b.post("/login", data={"email": bob.email, "password": "correct horse battery"})
    form_a, form_b = _edit_form(a, ticket.number), _edit_form(b, ticket.number)
    assert form_a["version"] == form_b["version"]

    saved = a.post(f"/tickets/{ticket.number}/edit",
                   data=_form_data(ticket, form_a, priority="urgent"))  # fmt: skip
    assert saved.status_code == 303
    mine = _form_data(ticket, form_b, description="Bob's careful notes")
    conflict = b.post(f"/tickets/{ticket.number}/edit", data=mine)
    assert conflict.status_code == 409
    text = conflict.text
    assert "Someone else saved this ticket" in text
    assert "Ana Agent saved it at" in text
    assert "<strong>Priority</strong> → Urgent" in text
    assert "Bob&#39;s careful notes" in text  # B's typing is in the form
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).description == "Original text"

    # B saves the merged form: both intentions are kept.
    merged = {
        "title": "Printer broken", "description": "Bob's careful notes", "status": "open",
        "priority": re.search(r'<option selected value="(\w+)">', text.split('name="priority"')[1])
        .group(1),
        "assignee": "", "tags": [],
        "version": re.search(r'name="version" type="hidden" value="(\d+)"', text).group(1),
        "original": "",
    }  # fmt: skip
    assert merged["priority"] == "urgent"
    final = b.post(f"/tickets/{ticket.number}/edit", data=merged)
    assert final.status_code == 303
    db.session.expire_all()
    stored = db.session.get(Ticket, ticket.id)
    assert stored.priority == TicketPriority.URGENT
    assert stored.description == "Bob's careful notes"


def test_quick_update_changes_status_and_assignee(agent_client, agent):
    ticket = TicketFactory()
    page = agent_client.get(f"/tickets/{ticket.number}")
    hidden = dict(re.findall(r'name="(version|original)"[^>]*value="([^"]*)"', page.text))
    response = agent_client.post(
        f"/tickets/{ticket.number}/update",
        data={"status": "resolved", "assignee": str(agent.id), "version": hidden["version"],
              "original": hidden["original"].replace("&#34;", '"')},
    )  # fmt: skip
    assert response.status_code == 303
    db.session.expire_all()
    stored = db.session.get(Ticket, ticket.id)
    assert stored.status == TicketStatus.RESOLVED
    assert stored.resolved_at is not None
    assert stored.assignee_id == agent.id


def test_stale_quick_update_shows_the_conflict_page(agent_client, agent):
    ticket = TicketFactory()
    db.session.flush()
    stale_version = ticket.version
    service.update_ticket(ticket, actor=agent, expected_version=None, edit=TicketEdit(title="New"))
    response = agent_client.post(
        f"/tickets/{ticket.number}/update",
        data={"status": "resolved", "assignee": "", "version": str(stale_version)},
    )
    assert response.status_code == 409
    assert '<option selected value="resolved">' in response.text


def test_comments_public_and_internal(agent_client):
    ticket = TicketFactory()
    public = agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "Hello!"})
    assert public.status_code == 303
    assert re.search(rf"/tickets/{ticket.number}#c\d+$", public.headers["Location"])
    internal = agent_client.post(
        f"/tickets/{ticket.number}/comments", data={"body": "Customer is VIP", "is_internal": "y"}
    )
    assert internal.status_code == 303
    page = agent_client.get(f"/tickets/{ticket.number}").text
    assert 'class="comment internal"' in page
    assert "Internal note" in page
    assert "Public reply" in page


def test_an_empty_comment_is_refused_and_nothing_is_saved(agent_client):
    ticket = TicketFactory()
    response = agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "   "})
    assert response.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0


def test_a_closed_ticket_refuses_comments_but_keeps_the_text(agent_client):
    ticket = TicketFactory(status=TicketStatus.CLOSED)
    response = agent_client.post(
        f"/tickets/{ticket.number}/comments", data={"body": "Typed with care"}
    )
    assert response.status_code == 422
    assert "reopen it to comment" in response.text
    assert "Typed with care" in response.text


def test_the_match_count_is_capped(agent_client, monkeypatch, now):
    from supportdesk.tickets import queries

    monkeypatch.setattr(queries, "COUNT_CAP", 5)
    for i in range(7):
        _make(now, i)
    assert "5+ matching" in agent_client.get("/tickets/").text
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    assert "7 matching" in agent_client.get("/tickets/").text
