"""Macros: saving rules, applying to one ticket and to many, audit rows, refusals."""

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.macros import service
from supportdesk.macros.models import AssignMode, Macro
from supportdesk.macros.service import InvalidMacroError, MacroValues
from supportdesk.models import Comment, Ticket, TicketPriority, TicketStatus
from supportdesk.tickets.rules import InvalidTicketError
from supportdesk.tickets.service import StaleTicketError, TicketClosedError
from tests.factories import CustomerFactory, TagFactory, TicketFactory, UserFactory


def _macro(actor, **values):
    values.setdefault("name", "Refund done")
    macro = service.create_macro(MacroValues(**values), actor=actor)
    return service.load_for_apply(macro.id)


def _audit(ticket_id):
    stmt = sa.select(AuditLog.action, AuditLog.changes).where(AuditLog.ticket_id == ticket_id)
    return list(db.session.execute(stmt.order_by(AuditLog.id)))


def test_saving_checks_name_placeholders_actions_and_people(app):
    admin = UserFactory(admin=True)
    ghost = UserFactory(is_active=False)
    tag = TagFactory()
    service.create_macro(MacroValues(name="Hello", body="Hi"), actor=admin)
    cases = [
        (MacroValues(name="  "), "name", "1 to 100 characters"),
        (MacroValues(name="HELLO", body="x"), "name", "already exists"),
        (MacroValues(name="A", body="{{ customer_phone }}"), "body", "is not a placeholder"),
        (MacroValues(name="A"), None, "reply text, at least one action"),
        (MacroValues(name="A", assign=AssignMode.USER), "assign_user", "active staff"),
        (MacroValues(name="A", assign=AssignMode.USER, assign_user_id=ghost.id), "assign_user",
         "active staff"),
        (MacroValues(name="A", add_tag_ids=[tag.id], remove_tag_ids=[tag.id]), "remove_tags",
         f"both added and removed: {tag.name}"),
        (MacroValues(name="A", add_tag_ids=[987654]), "add_tags", "no longer exists"),
    ]  # fmt: skip
    for values, field, message in cases:
        with pytest.raises(InvalidMacroError, match=message) as caught:
            service.create_macro(values, actor=admin)
        assert caught.value.field == field
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Macro)) == 1


def test_an_edit_over_a_newer_save_is_refused(app):
    admin = UserFactory(admin=True)
    macro = _macro(admin, body="One")
    first = macro.version
    service.update_macro(macro, MacroValues(name="Refund done", body="Two"), actor=admin,
                         expected_version=first)  # fmt: skip
    with pytest.raises(service.StaleMacroError):
        service.update_macro(macro, MacroValues(name="Refund done", body="Three"), actor=admin,
                             expected_version=first)  # fmt: skip
    assert macro.body == "Two"


def test_saving_and_deleting_a_macro_is_audited_with_its_tag_actions(app):
    admin = UserFactory(admin=True)
    billing, vip = TagFactory(name="billing"), TagFactory(name="vip")
    with acting_as(admin):
        macro = _macro(admin, body="x", add_tag_ids=[billing.id])
        service.update_macro(
            macro, MacroValues(name="Refund done", body="x", remove_tag_ids=[billing.id],
                               add_tag_ids=[vip.id]),
            actor=admin, expected_version=macro.version,
        )  # fmt: skip
        service.delete_macro(macro)
    rows = db.session.execute(
        sa.select(AuditLog.action, AuditLog.changes)
        .where(AuditLog.entity_type.in_(["macros", "macro_tags"]))
        .order_by(AuditLog.id)
    ).all()
    actions = [a for a, _ in rows]
    assert actions[:2] == ["macro.created", "macro_tag.created"]
    assert "macro_tag.updated" in actions  # billing: add -> remove
    assert actions.count("macro_tag.created") == 2  # billing, then vip
    updated = next(c for a, c in rows if a == "macro_tag.updated")
    assert updated == {"adds": {"old": True, "new": False}}
    assert actions.count("macro.deleted") == 1
    assert actions.count("macro_tag.deleted") == 2


def test_applying_a_macro_replies_and_changes_each_field_through_the_ticket_service(app):
    agent = UserFactory(full_name="Ada Lovelace")
    billing, vip, old = TagFactory(name="billing"), TagFactory(name="vip"), TagFactory(name="old")
    ticket = TicketFactory(title="Refund please", tags=[old, vip])
    db.session.flush()
    macro = _macro(
        agent, body="Hi, {{ agent.first_name }}: {{ ticket.reference }} is {{ ticket.status }}.",
        set_status=TicketStatus.RESOLVED, set_priority=TicketPriority.LOW,
        assign=AssignMode.ME, add_tag_ids=[billing.id, vip.id], remove_tag_ids=[old.id],
    )  # fmt: skip
    ticket = db.session.scalars(sa.select(Ticket).where(Ticket.id == ticket.id)).one()
    db.session.refresh(ticket, ["tags"])
    with acting_as(agent):
        applied = service.apply_macro(ticket, macro, actor=agent)
    assert applied.changed == {"status", "priority", "assignee", "tags"}
    assert applied.comment.body == f"Hi, Ada: {ticket.reference} is Resolved."
    assert applied.comment.is_internal is False
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert (ticket.status, ticket.priority, ticket.assignee_id) == (
        TicketStatus.RESOLVED, TicketPriority.LOW, agent.id)  # fmt: skip
    assert ticket.resolved_at is not None
    assert ticket.first_reply_at is not None
    db.session.refresh(ticket, ["tags"])
    assert sorted(t.name for t in ticket.tags) == ["billing", "vip"]
    rows = _audit(ticket.id)
    actions = [a for a, _ in rows]
    assert actions[0] == "ticket.created"
    assert actions[1] == "comment.created"
    assert set(actions[2:]) == {"ticket.updated", "ticket.tag_added", "ticket.tag_removed"}
    changed = {key for action, changes in rows[2:] if action == "ticket.updated" for key in changes}
    assert changed == {
        "status",
        "priority",
        "assignee_id",
        "resolved_at",
        "due_at",
    }  # a new priority moves the SLA due time


def test_the_agents_edited_text_and_internal_flag_win_and_an_internal_macro_stays_internal(app):
    agent = UserFactory()
    ticket = TicketFactory()
    public = _macro(agent, name="Public", body="Canned")
    internal = _macro(agent, name="Internal", body="For staff", is_internal=True)
    applied = service.apply_macro(ticket, public, actor=agent, body="My own words")
    assert (applied.comment.body, applied.comment.is_internal) == ("My own words", False)
    applied = service.apply_macro(ticket, public, actor=agent, is_internal=True)
    assert (applied.comment.body, applied.comment.is_internal) == ("Canned", True)
    applied = service.apply_macro(ticket, internal, actor=agent, is_internal=False)
    assert applied.comment.is_internal is True


def test_a_closing_macro_replies_first_and_a_reopening_macro_reopens_first(app):
    agent = UserFactory()
    ticket = TicketFactory(tags=[])
    close = _macro(agent, name="Close", body="Closing this.", set_status=TicketStatus.CLOSED)
    applied = service.apply_macro(ticket, close, actor=agent)
    assert applied.comment is not None
    assert ticket.status == TicketStatus.CLOSED
    with pytest.raises(TicketClosedError, match="does not reopen it"):
        service.apply_macro(ticket, _macro(agent, name="Hi", body="Hi"), actor=agent)
    reopen = _macro(agent, name="Reopen", body="Back on it.", set_status=TicketStatus.OPEN)
    applied = service.apply_macro(ticket, reopen, actor=agent)
    assert ticket.status == TicketStatus.OPEN
    assert applied.comment.body == "Back on it."


def test_a_stale_page_refuses_field_changes_but_a_plain_canned_reply_never_conflicts(app):
    agent = UserFactory()
    ticket = TicketFactory(tags=[])
    seen = ticket.version
    service.apply_macro(ticket, _macro(agent, name="P", set_priority=TicketPriority.URGENT),
                        actor=agent)  # fmt: skip
    with pytest.raises(StaleTicketError):
        service.apply_macro(ticket, _macro(agent, name="S", set_status=TicketStatus.RESOLVED),
                            actor=agent, expected_version=seen)  # fmt: skip
    applied = service.apply_macro(ticket, _macro(agent, name="C", body="Thanks"), actor=agent,
                                  expected_version=seen)  # fmt: skip
    assert applied.comment is not None
    assert ticket.status == TicketStatus.OPEN


def test_applying_to_many_is_one_transaction_with_each_ticket_audited(app):
    agent = UserFactory()
    vip = TagFactory(name="vip")
    tickets = TicketFactory.create_batch(5, tags=[])
    closed = TicketFactory(status=TicketStatus.CLOSED, tags=[])
    moved = TicketFactory(tags=[])
    db.session.flush()
    versions = {t.id: t.version for t in [*tickets, closed]} | {moved.id: moved.version - 1}
    macro = _macro(agent, body="We are on {{ ticket.reference }}.", add_tag_ids=[vip.id],
                   set_priority=TicketPriority.HIGH)  # fmt: skip
    ids = [t.id for t in [*tickets, closed, moved]] + [10_000_000]
    with acting_as(agent):
        result = service.apply_bulk(ids, macro, actor=agent, versions=versions)
    assert result.updated == 5
    assert dict(result.skipped) == {"missing": 1, "closed": 1, "changed": 1}
    db.session.expire_all()
    for ticket in tickets:
        ticket = db.session.get(Ticket, ticket.id)
        assert ticket.priority == TicketPriority.HIGH
        body = db.session.scalar(sa.select(Comment.body).where(Comment.ticket_id == ticket.id))
        assert body == f"We are on {ticket.reference}."
        actions = [a for a, _ in _audit(ticket.id)]
        assert actions[1] == "comment.created"
        assert set(actions[2:]) == {"ticket.updated", "ticket.tag_added"}
    assert db.session.scalar(sa.select(sa.func.count()).where(Comment.ticket_id == closed.id)) == 0
    with pytest.raises(InvalidTicketError, match="at most 1,000"):
        service.apply_bulk(range(1, service.BULK_LIMIT + 2), macro, actor=agent)


def test_a_failure_half_way_through_many_leaves_nothing_behind(app):
    agent = UserFactory()
    gone = UserFactory()
    tickets = TicketFactory.create_batch(3, tags=[])
    macro = _macro(agent, body="Reassigning", assign=AssignMode.USER, assign_user_id=gone.id)
    gone.is_active = False  # deactivated after the macro was saved
    db.session.flush()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    savepoint = db.session.begin_nested()
    with pytest.raises(Exception, match="not active"):
        service.apply_bulk([t.id for t in tickets], macro, actor=agent)
    savepoint.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) == before


def test_customer_placeholders_name_the_requester_and_fall_back(app):
    agent = UserFactory(full_name="Ada Lovelace")
    named = TicketFactory(requester=CustomerFactory(name="Grace Hopper", email="grace@x.org"))
    unnamed = TicketFactory(requester=CustomerFactory(name="", email="linus@x.org"))
    old = TicketFactory(requester=None)  # from before the desk recorded customers
    db.session.flush()
    macro = _macro(agent, body="Dear {{ customer_name }} ({{ customer_email }})")
    texts = []
    for ticket in (named, unnamed, old):
        ticket = db.session.scalars(
            sa.select(Ticket).where(Ticket.id == ticket.id)
            .options(sa.orm.joinedload(Ticket.requester))
        ).one()  # fmt: skip
        texts.append(service.render_body(macro, ticket, agent))
    assert texts == ["Dear Grace Hopper (grace@x.org)", "Dear linus (linus@x.org)", "Dear  ()"]
