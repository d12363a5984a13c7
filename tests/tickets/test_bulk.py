import datetime as dt
import re

import pytest
import sqlalchemy as sa

from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import Ticket, TicketStatus, ticket_tags
from supportdesk.seed import seed_demo_data
from supportdesk.tickets.bulk import bulk_update
from supportdesk.tickets.service import InvalidTicketError
from tests.factories import TagFactory, TicketFactory, UserFactory


@pytest.fixture
def actor(app):
    return UserFactory(full_name="Bulk Actor")


def _fresh(ids):
    db.session.expire_all()
    return db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)).all()


@pytest.mark.parametrize("count", [1, 25])
def test_every_action_on_1_and_25_tickets(actor, count):
    tag = TagFactory()
    bea = UserFactory()
    tickets = TicketFactory.create_batch(count)
    ids = [t.id for t in tickets]
    db.session.flush()

    result = bulk_update(ids, action="status", value="resolved", actor=actor)
    assert (result.updated, dict(result.skipped)) == (count, {})
    assert all(t.status == TicketStatus.RESOLVED and t.resolved_at for t in _fresh(ids))
    assert all(t.version == 2 and t.updated_by_id == actor.id for t in _fresh(ids))

    assert bulk_update(ids, action="assign", value=str(bea.id), actor=actor).updated == count
    assert {t.assignee_id for t in _fresh(ids)} == {bea.id}

    assert bulk_update(ids, action="add_tag", value=str(tag.id), actor=actor).updated == count
    links = (
        sa.select(sa.func.count()).select_from(ticket_tags).where(ticket_tags.c.tag_id == tag.id)
    )
    assert db.session.scalar(links) == count
    again = bulk_update(ids, action="add_tag", value=str(tag.id), actor=actor)
    assert (again.updated, again.skipped["unchanged"]) == (0, count)

    assert bulk_update(ids, action="remove_tag", value=str(tag.id), actor=actor).updated == count
    assert db.session.scalar(links) == 0

    assert bulk_update(ids, action="delete", value="", actor=actor).updated == count
    assert all(t.deleted_at and t.deleted_by_id == actor.id for t in _fresh(ids))


def test_status_rule_is_the_single_edit_rule(actor):
    resolved_at = utcnow() - dt.timedelta(days=3)
    resolved = TicketFactory(status=TicketStatus.RESOLVED, resolved_at=resolved_at)
    fresh = TicketFactory()
    db.session.flush()
    bulk_update([resolved.id, fresh.id], action="status", value="closed", actor=actor)
    kept, stamped = _fresh([resolved.id, fresh.id])
    assert kept.resolved_at == resolved_at  # resolved -> closed keeps the time
    assert stamped.resolved_at is not None
    bulk_update([resolved.id, fresh.id], action="status", value="open", actor=actor)
    assert all(t.resolved_at is None for t in _fresh([resolved.id, fresh.id]))


def test_closed_and_stale_and_missing_tickets_are_skipped_and_reported(actor):
    ok = TicketFactory()
    closed = TicketFactory(status=TicketStatus.CLOSED)
    stale = TicketFactory()
    gone = TicketFactory(deleted_at=utcnow())
    db.session.flush()
    versions = {ok.id: ok.version, closed.id: closed.version, stale.id: stale.version - 1}
    result = bulk_update(
        [ok.id, closed.id, stale.id, gone.id, 999_999], action="assign", value="me",
        actor=actor, versions=versions,
    )  # fmt: skip
    assert result.updated == 1
    assert dict(result.skipped) == {"missing": 2, "closed": 1, "changed": 1}
    assert result.summary() == (
        "1 ticket updated, 4 skipped: 2 deleted or missing, "
        "1 changed by someone else since the list was loaded, 1 closed."
    )
    assert _fresh([stale.id])[0].assignee_id is None  # not overwritten


def test_closed_tickets_can_be_reopened_in_bulk(actor):
    closed = TicketFactory(status=TicketStatus.CLOSED)
    db.session.flush()
    assert bulk_update([closed.id], action="status", value="open", actor=actor).updated == 1


def test_select_all_skips_tickets_changed_after_the_list_was_loaded(actor):
    before = TicketFactory(updated_at=utcnow() - dt.timedelta(minutes=5))
    after = TicketFactory(updated_at=utcnow() + dt.timedelta(seconds=5))
    db.session.flush()
    loaded_at = utcnow()
    result = bulk_update([before.id, after.id], action="status", value="in_progress",
                         actor=actor, loaded_at=loaded_at)  # fmt: skip
    assert (result.updated, result.skipped["changed"]) == (1, 1)


@pytest.mark.parametrize(
    ("action", "value", "message"),
    [
        ("explode", "", "not a bulk action"),
        ("status", "nonsense", "not a status"),
        ("assign", "999999", "active staff"),
        ("add_tag", "abc", "existing tag"),
    ],
)
def test_bad_actions_and_values_are_refused(actor, action, value, message):
    ticket = TicketFactory()
    db.session.flush()
    with pytest.raises(InvalidTicketError, match=message):
        bulk_update([ticket.id], action=action, value=value, actor=actor)


def test_empty_selection_is_refused(actor):
    with pytest.raises(InvalidTicketError, match="at least one"):
        bulk_update([], action="delete", value="", actor=actor)


def test_bulk_from_the_list_with_checkboxes(agent_client, agent):
    tickets = TicketFactory.create_batch(3)
    page = agent_client.get("/tickets/")
    assert page.text.count('<input type="checkbox" name="ids" value="') == 3
    data = {"ids": [str(t.id) for t in tickets[:2]], "action": "assign", "value": "me",
            "loaded_at": utcnow().isoformat(),
            **{f"v{t.id}": str(t.version) for t in tickets}}  # fmt: skip
    response = agent_client.post("/tickets/bulk", data=data)
    assert response.status_code == 303
    follow = agent_client.get(response.headers["Location"])
    assert "2 tickets updated." in follow.text
    assigned = [t.assignee_id for t in _fresh([t.id for t in tickets])]
    assert assigned == [agent.id, agent.id, None]


def test_bulk_select_all_matching_uses_the_filters(agent_client):
    urgent = TicketFactory.create_batch(3, priority="urgent")
    other = TicketFactory(priority="low")
    data = {"select_all_matching": "1", "priority": "urgent", "action": "status",
            "value": "waiting_on_customer", "loaded_at": (utcnow() + dt.timedelta(seconds=1))
            .isoformat()}  # fmt: skip
    response = agent_client.post("/tickets/bulk", data=data)
    assert response.status_code == 303
    assert "priority=urgent" in response.headers["Location"]
    statuses = {t.id: t.status for t in _fresh([t.id for t in [*urgent, other]])}
    assert statuses[other.id] == TicketStatus.OPEN
    assert {statuses[t.id] for t in urgent} == {TicketStatus.WAITING_ON_CUSTOMER}


def test_bulk_with_a_bad_value_flashes_the_reason(agent_client):
    ticket = TicketFactory()
    response = agent_client.post(
        "/tickets/bulk", data={"ids": [str(ticket.id)], "action": "status", "value": "x"}
    )
    page = agent_client.get(response.headers["Location"])
    assert "&#39;x&#39; is not a status." in page.text


@pytest.mark.postgresql_only
def test_bulk_actions_on_10000_tickets(actor):
    seed_demo_data(tickets=10_000, seed=9, comments_per_ticket=0, staff=5, tags=3)
    ids = list(db.session.scalars(sa.select(Ticket.id)))
    assert len(ids) == 10_000
    closed = db.session.scalar(
        sa.select(sa.func.count()).where(Ticket.status == TicketStatus.CLOSED)
    )
    result = bulk_update(ids, action="status", value="in_progress", actor=actor)
    # Closed tickets may be reopened, so only tickets already in progress are skipped.
    assert result.updated + result.skipped["unchanged"] == 10_000
    assert closed > 0
    tag = TagFactory()
    assert bulk_update(ids, action="add_tag", value=str(tag.id), actor=actor).updated == 10_000
    assert bulk_update(ids, action="assign", value="me", actor=actor).updated == 10_000
    assert bulk_update(ids, action="delete", value="", actor=actor).updated == 10_000
    remaining = db.session.scalar(sa.select(sa.func.count()).where(Ticket.deleted_at.is_(None)))
    assert remaining == 0


def test_the_list_renders_keyboard_reachable_bulk_controls(agent_client):
    TicketFactory()
    text = agent_client.get("/tickets/").text
    assert re.search(r'<select name="action" id="bulk-action">', text)
    assert 'id="select-all-matching"' in text
