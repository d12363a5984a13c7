import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.models import Tag, ticket_tags
from tests.factories import TagFactory, TicketFactory


def test_tags_page_lists_counts_of_live_tickets_in_one_query(agent_client):
    billing, idle = TagFactory(name="billing"), TagFactory(name="idle")
    TicketFactory.create_batch(2, tags=[billing])
    TicketFactory(tags=[billing], deleted_at=sa.func.now())
    response = agent_client.get("/tags/")
    assert response.status_code == 200
    text = response.text
    assert f'href="/tickets/?tag={billing.id}">2</a>' in text
    assert f'href="/tickets/?tag={idle.id}">0</a>' in text
    assert response.headers["X-DB-Query-Count"] == "2"  # the user, then tags with counts
    assert "New tag" not in text  # agents do not manage tags


def test_admin_creates_renames_and_recolours_a_tag(admin_client):
    created = admin_client.post("/tags/new", data={"name": "Outage", "colour": "#ff0000",
                                                   "description": "Down"})  # fmt: skip
    assert created.status_code == 303
    tag = db.session.scalars(sa.select(Tag).where(Tag.name == "Outage")).one()
    edited = admin_client.post(f"/tags/{tag.id}/edit",
                               data={"name": "Major outage", "colour": "#00ff00",
                                     "description": "Down hard"})  # fmt: skip
    assert edited.status_code == 303
    db.session.expire_all()
    tag = db.session.get(Tag, tag.id)
    assert (tag.name, tag.colour, tag.description) == ("Major outage", "#00ff00", "Down hard")


def test_tag_form_errors_keep_the_input(admin_client):
    TagFactory(name="billing")
    duplicate = admin_client.post("/tags/new", data={"name": "BILLING", "colour": "#123456"})
    assert duplicate.status_code == 422
    assert "already exists" in duplicate.text
    assert 'value="BILLING"' in duplicate.text
    bad_colour = admin_client.post("/tags/new", data={"name": "new", "colour": "red"})
    assert bad_colour.status_code == 422
    assert "Use the form #1a2b3c." in bad_colour.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Tag)) == 1


def test_deleting_a_tag_in_use_asks_first_and_then_unlinks_it(admin_client):
    tag = TagFactory(name="vip")
    ticket = TicketFactory(tags=[tag])
    ask = admin_client.post(f"/tags/{tag.id}/delete")
    assert ask.status_code == 200
    assert "It is on <strong>1</strong> ticket." in ask.text
    assert db.session.get(Tag, tag.id) is not None
    done = admin_client.post(f"/tags/{tag.id}/delete", data={"confirm": "1"})
    assert done.status_code == 303
    db.session.expire_all()
    assert db.session.get(Tag, tag.id) is None
    links = sa.select(sa.func.count()).select_from(ticket_tags)
    assert db.session.scalar(links.where(ticket_tags.c.ticket_id == ticket.id)) == 0


def test_an_unused_tag_is_deleted_without_asking(admin_client):
    tag = TagFactory()
    assert admin_client.post(f"/tags/{tag.id}/delete").status_code == 303


def test_agents_cannot_manage_tags(agent_client):
    tag = TagFactory()
    assert agent_client.get("/tags/new").status_code == 403
    assert (
        agent_client.post("/tags/new", data={"name": "x", "colour": "#000000"}).status_code == 403
    )
    assert agent_client.post(f"/tags/{tag.id}/edit", data={"name": "y"}).status_code == 403
    assert agent_client.post(f"/tags/{tag.id}/delete").status_code == 403


def test_unknown_tag_is_404(admin_client):
    assert admin_client.get("/tags/424242/edit").status_code == 404
