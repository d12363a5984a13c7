"""Followers: auto-follow, the Following view, the new-activity marker, seen on open."""

import re

import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.models import TicketFollower
from supportdesk.tickets import service
from supportdesk.tickets.bulk import BulkAction, bulk_update
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CustomerFactory, TicketFactory, UserFactory


def _following(user):
    return set(db.session.scalars(
        sa.select(TicketFollower.ticket_id).where(TicketFollower.user_id == user.id)
    ))  # fmt: skip


def _numbers(response):
    return [int(n) for n in re.findall(r'<td class="num"><a href="/tickets/(\d+)"', response.text)]


def test_staff_follow_what_they_create_are_assigned_or_comment_on(app):
    ana, ben, cy, dee = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    created = service.create_ticket(
        requester=CustomerFactory(), title="Mine", description="d", creator=ana
    )
    assigned = TicketFactory()
    db.session.flush()
    service.update_ticket(assigned, actor=ana, expected_version=None, edit=TicketEdit(assignee=ben))
    commented = TicketFactory()
    db.session.flush()
    service.add_comment(commented, author=cy, body="On it", is_internal=True)
    bulk = [TicketFactory(), TicketFactory()]
    db.session.flush()
    bulk_update([t.id for t in bulk], action=BulkAction.ASSIGN, value=str(dee.id), actor=ana)
    db.session.flush()
    assert created.id in _following(ana)
    assert _following(ben) == {assigned.id}
    assert _following(cy) == {commented.id}
    assert _following(dee) == {t.id for t in bulk}


def test_following_view_marker_and_seen_on_open(agent_client, agent):
    other = UserFactory()
    mine = TicketFactory(title="Followed one")
    TicketFactory(title="Not followed")
    db.session.flush()
    agent_client.post(f"/tickets/{mine.number}/follow")
    following = agent_client.get("/tickets/?following=y")
    assert _numbers(following) == [mine.number]
    assert "new activity" not in following.text  # just followed: seen
    service.add_comment(db.session.get(type(mine), mine.id), author=other, body="News",
                        is_internal=False)  # fmt: skip
    assert "new activity" in agent_client.get("/tickets/?following=y").text
    page = agent_client.get(f"/tickets/{mine.number}")
    assert "Following ✓" in page.text
    assert "new activity" not in agent_client.get("/tickets/?following=y").text  # opened
    agent_client.post(f"/tickets/{mine.number}/follow", data={"unfollow": "1"})
    assert _numbers(agent_client.get("/tickets/?following=y")) == []
    assert ">Follow</button>" in agent_client.get(f"/tickets/{mine.number}").text


def test_merging_hands_the_followers_over(app):
    from supportdesk.tickets import followers
    from supportdesk.tickets.merge import merge_ticket

    ana, ben = UserFactory(), UserFactory()
    target, dupe = TicketFactory(), TicketFactory()
    db.session.flush()
    followers.follow([dupe.id], ben.id)
    merge_ticket(dupe.id, into_number=target.number, actor=ana)
    assert target.id in _following(ben)


def test_opening_a_ticket_over_http_really_records_the_visit(live_server):
    # Through a real server each request has its own session, which is rolled back at the
    # end unless committed: the visit must be committed, not just executed.
    from supportdesk.audit.context import acting_as
    from supportdesk.db import unit_of_work
    from supportdesk.models import User
    from supportdesk.tickets import followers
    from supportdesk.tickets.service import create_ticket
    from tests.conftest import PASSWORD
    from tests.http import Browserless

    with live_server.app.app_context(), acting_as("test"), unit_of_work():
        agent = db.session.scalar(sa.select(User).where(User.email == live_server.users["agent"]))
        other = db.session.scalar(sa.select(User).where(User.email == live_server.users["admin"]))
        ticket = create_ticket(
            requester=CustomerFactory(), title="Seen over HTTP", description="d", creator=other
        )
        followers.follow([ticket.id], agent.id)  # followed, never opened
        number, ticket_id, agent_id = ticket.number, ticket.id, agent.id
    client = Browserless(live_server.url)
    client.login(live_server.users["agent"], PASSWORD)
    assert client.request(f"/tickets/{number}").status == 200
    with live_server.app.app_context():
        seen = db.session.scalar(
            sa.select(TicketFollower.last_seen_at).where(TicketFollower.ticket_id == ticket_id,
                                                         TicketFollower.user_id == agent_id)
        )  # fmt: skip
        db.session.remove()
    assert seen is not None
