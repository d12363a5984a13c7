import pytest
import sqlalchemy as sa
from sqlalchemy.orm.exc import StaleDataError

from supportdesk.audit.listeners import audited_bulk
from supportdesk.extensions import db
from supportdesk.models import Ticket, TicketPriority, TicketStatus
from supportdesk.tickets import conflicts, service
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CommentFactory, CustomerFactory, TagFactory, TicketFactory, UserFactory


@pytest.fixture
def actor(app):
    return UserFactory()


def _update(ticket, actor, **changes):
    return service.update_ticket(
        ticket, TicketEdit(**changes), actor=actor, expected_version=ticket.version
    )


def test_create_ticket_numbers_increase_and_are_never_reused(app, actor):
    first = service.create_ticket(
        requester=CustomerFactory(), title="A", description="a", creator=actor
    )
    second = service.create_ticket(
        requester=CustomerFactory(), title="B", description="b", creator=actor
    )
    assert second.number == first.number + 1
    assert first.reference == f"SD-{first.number}"
    db.session.delete(second)
    db.session.flush()
    third = service.create_ticket(
        requester=CustomerFactory(), title="C", description="c", creator=actor
    )
    assert third.number == second.number + 1


def test_create_ticket_cleans_and_checks_values(app, actor):
    ticket = service.create_ticket(
        requester=CustomerFactory(), title="  Printer   jam ", description=" x ", creator=actor
    )
    assert ticket.title == "Printer jam"
    assert ticket.description == "x"
    with pytest.raises(service.InvalidTicketError, match="title"):
        service.create_ticket(
            requester=CustomerFactory(), title="   ", description="x", creator=actor
        )
    with pytest.raises(service.InvalidTicketError, match="200"):
        service.create_ticket(
            requester=CustomerFactory(), title="x" * 201, description="x", creator=actor
        )
    with pytest.raises(service.InvalidTicketError, match="not active"):
        service.create_ticket(
            requester=CustomerFactory(),
            title="x",
            description="x",
            creator=actor,
            assignee=UserFactory(is_active=False),
        )


def test_resolving_stamps_resolved_at_and_reopening_clears_it(app, actor):
    ticket = TicketFactory()
    _update(ticket, actor, status=TicketStatus.RESOLVED)
    assert ticket.resolved_at is not None
    stamped = ticket.resolved_at
    _update(ticket, actor, status=TicketStatus.CLOSED)
    assert ticket.resolved_at == stamped  # closing a resolved ticket keeps the time
    _update(ticket, actor, status=TicketStatus.OPEN)
    assert ticket.resolved_at is None
    created_resolved = service.create_ticket(
        requester=CustomerFactory(),
        title="t",
        description="d",
        creator=actor,
        status=TicketStatus.RESOLVED,
    )
    assert created_resolved.resolved_at is not None


def test_closed_tickets_are_read_only_except_for_reopening(app, actor):
    ticket = TicketFactory(status=TicketStatus.CLOSED)
    with pytest.raises(service.TicketClosedError):
        _update(ticket, actor, title="New title")
    with pytest.raises(service.TicketClosedError):
        _update(ticket, actor, status=TicketStatus.OPEN, title="New title")
    with pytest.raises(service.TicketClosedError):
        service.add_comment(ticket, author=actor, body="hello", is_internal=False)
    assert service.change_status(ticket, TicketStatus.OPEN, actor=actor)
    assert _update(ticket, actor, title="New title") == {"title"}


def test_update_records_who_and_bumps_the_version_once(app, actor):
    ticket = TicketFactory()
    db.session.flush()
    version = ticket.version
    changed = _update(ticket, actor, title="Changed", priority=TicketPriority.URGENT)
    assert changed == {"title", "priority"}
    assert ticket.version == version + 1
    assert ticket.updated_by is actor


def test_a_no_op_update_changes_nothing(app, actor):
    ticket = TicketFactory()
    db.session.flush()
    version, updated = ticket.version, ticket.updated_at
    assert _update(ticket, actor, title=ticket.title, status=ticket.status) == set()
    db.session.flush()
    assert ticket.version == version
    assert ticket.updated_at == updated


def test_stale_version_is_refused(app, actor):
    ticket = TicketFactory()
    db.session.flush()
    with pytest.raises(service.StaleTicketError):
        service.update_ticket(
            ticket, actor=actor, expected_version=ticket.version - 1, edit=TicketEdit(title="x")
        )


def test_a_concurrent_write_between_read_and_flush_is_detected(app, actor):
    ticket = TicketFactory()
    db.session.flush()
    # Another writer bumps the version behind the ORM's back.
    with audited_bulk():
        db.session.execute(
            sa.update(Ticket)
            .where(Ticket.id == ticket.id)
            .values(version=Ticket.version + 1)
            .execution_options(synchronize_session=False)
        )
    with pytest.raises(StaleDataError):
        _update(ticket, actor, title="Mine")


def test_comments_do_not_bump_the_version_but_show_activity(app, actor):
    ticket = TicketFactory()
    db.session.flush()
    version, updated = ticket.version, ticket.updated_at
    comment = service.add_comment(ticket, author=actor, body="  On it  ", is_internal=True)
    assert comment.body == "On it"
    db.session.expire(ticket)
    assert ticket.version == version
    assert ticket.updated_at >= updated
    with pytest.raises(service.InvalidTicketError):
        service.add_comment(ticket, author=actor, body="   ", is_internal=False)


def test_the_first_public_reply_is_stamped_once(app, actor):
    ticket = TicketFactory()
    db.session.flush()
    service.add_comment(ticket, author=actor, body="Internal first", is_internal=True)
    db.session.expire(ticket)
    assert ticket.first_reply_at is None  # notes are not replies
    first = service.add_comment(ticket, author=actor, body="Hello!", is_internal=False)
    service.add_comment(ticket, author=actor, body="Anything else?", is_internal=False)
    db.session.expire(ticket)
    assert ticket.first_reply_at == first.created_at


def test_tags_change_through_update(app, actor):
    billing, vip = TagFactory(name="billing"), TagFactory(name="vip")
    ticket = TicketFactory(tags=[billing])
    assert _update(ticket, actor, tags=[vip, billing]) == {"tags"}
    assert {t.name for t in ticket.tags} == {"billing", "vip"}
    assert _update(ticket, actor, tags=[billing, vip]) == set()  # order does not matter


def test_explain_conflict_keeps_both_intentions(app, actor):
    ticket = TicketFactory(title="Old", priority=TicketPriority.LOW, tags=[], ccs=[])
    db.session.flush()
    loaded = conflicts.editable_values(ticket)
    token = conflicts.fingerprints(loaded)
    _update(ticket, actor, priority=TicketPriority.URGENT, description="Theirs")  # A saves
    submitted = dict(loaded, title="Mine", description="Mine too")  # B's form
    report = conflicts.explain_conflict(ticket, original=token, submitted=submitted)
    assert report.theirs == {"priority": "urgent", "description": "Theirs"}
    assert report.mine == {"title", "description"}
    assert report.both == {"description"}
    assert report.merged["title"] == "Mine"
    assert report.merged["priority"] == "urgent"
    assert report.merged["description"] == "Mine too"


def test_explain_conflict_without_a_token_loses_nothing(app, actor):
    ticket = TicketFactory(title="Old", tags=[], ccs=[])
    submitted = dict(conflicts.editable_values(ticket), title="Mine")
    report = conflicts.explain_conflict(ticket, original="not json", submitted=submitted)
    assert report.mine == {"title"}
    assert report.merged["title"] == "Mine"


def test_comment_factory_builds_its_ticket(app):
    comment = CommentFactory()
    assert comment.ticket.number > 0
