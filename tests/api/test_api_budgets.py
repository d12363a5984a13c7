"""Statement budgets of the API's reads: exact, whatever the number of rows."""

from __future__ import annotations

from supportdesk.users.models import TokenScope
from tests.factories import CommentFactory, TagFactory, TicketFactory, UserFactory


def _count(response) -> int:
    assert response.status_code == 200, response.get_json()
    return int(response.headers["X-DB-Query-Count"])


def test_the_list_costs_what_the_web_list_does_for_1_or_100_rows(api_as):
    agent = UserFactory()
    api = api_as(agent, TokenScope.READ)
    api.get("/api/v1/me")  # the token's first use is noted (an UPDATE, once a minute)
    tags = TagFactory.create_batch(3)
    TicketFactory(tags=tags[:2], assignee=agent)
    one = api.get("/api/v1/tickets")
    for i in range(120):
        ticket = TicketFactory(tags=[tags[i % 3]], assignee=UserFactory() if i % 7 == 0 else None)
        CommentFactory(ticket=ticket)
    many = api.get("/api/v1/tickets?limit=100")
    filtered = api.get(f"/api/v1/tickets?status=open&tag={tags[0].id}&assignee=none&q=fire"
                       "&sort=updated")  # fmt: skip
    deep = api.get(
        "/api/v1/tickets", query_string={"limit": 100, "cursor": many.get_json()["next_cursor"]}
    )
    assert len(one.get_json()["items"]) == 1
    assert len(many.get_json()["items"]) == 100
    # the token with its user; the filter options (tags, staff); the rows (with the
    # assignee, requester, tag ids, comment count and capped total): 3, as the web list
    for response in (one, many, filtered, deep):
        assert _count(response) == 3


def test_a_ticket_and_its_comments_in_at_most_5_statements(api_as):
    api = api_as(scope=TokenScope.READ)
    api.get("/api/v1/me")
    ticket = TicketFactory(tags=TagFactory.create_batch(5))
    for _ in range(40):
        CommentFactory(ticket=ticket)
    # token; ticket with people and requester; its tags; its CCs; the comment count
    assert _count(api.get(f"/api/v1/tickets/{ticket.number}")) == 5
    # token; ticket (three, as above); the comments with their authors
    assert _count(api.get(f"/api/v1/tickets/{ticket.number}/comments?limit=100")) == 5


def test_the_small_lists_are_one_statement_after_the_token(api_as):
    api = api_as(UserFactory(admin=True), TokenScope.ADMIN)
    api.get("/api/v1/me")
    TagFactory.create_batch(4)
    UserFactory.create_batch(4)
    for _ in range(5):
        TicketFactory()
    for path in ("/api/v1/tags", "/api/v1/users", "/api/v1/customers", "/api/v1/audit"):
        assert _count(api.get(path)) == 2, path
    assert _count(api.get("/api/v1/me")) == 1  # the token, joined to its user
