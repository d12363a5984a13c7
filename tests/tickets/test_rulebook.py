"""One rulebook: the same change through every write path gives the same ticket and audit.

Paths: single edit (update_ticket), bulk action, macro on one ticket, macro in bulk,
take next (assignment only). Each path starts from an identical ticket; afterwards the
ticket's fields and the changes its audit rows record must be identical.
"""

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.macros import service as macros
from supportdesk.macros.models import AssignMode
from supportdesk.macros.service import MacroValues
from supportdesk.models import Ticket, TicketStatus
from supportdesk.tickets import bulk, queue, rules, service
from supportdesk.tickets.rules import Skip, TicketEdit, TicketState
from tests.factories import TagFactory, TicketFactory, UserFactory

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _state(ticket):
    db.session.expire(ticket)
    fresh = db.session.scalars(
        sa.select(Ticket).where(Ticket.id == ticket.id).options(sa.orm.selectinload(Ticket.tags))
    ).one()
    return (fresh.status, fresh.assignee_id, fresh.resolved_at is not None,
            sorted(t.id for t in fresh.tags), fresh.version)  # fmt: skip


def _audit(ticket):
    rows = db.session.execute(
        sa.select(AuditLog.action, AuditLog.changes)
        .where(AuditLog.ticket_id == ticket.id, AuditLog.action != "ticket.created")
        .order_by(AuditLog.id)
    ).all()
    # resolved_at is a time: compare whether it was set, not the instant
    return sorted(
        (action, {k: ({"set": v.get("new") is not None} if k == "resolved_at" else v)
                  for k, v in changes.items()})
        for action, changes in rows
    )  # fmt: skip


@pytest.fixture
def people(app):
    return UserFactory(full_name="Ana Agent"), UserFactory(full_name="Ben Boss")


CHANGES = {
    "resolve": ("status", TicketStatus.RESOLVED),
    "close": ("status", TicketStatus.CLOSED),
    "assign": ("assign", None),
    "tag": ("add_tag", None),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_same_change_through_every_path_leaves_the_same_ticket_and_audit(app, people, change):
    ana, ben = people
    tag = TagFactory()
    kind, status = CHANGES[change]
    outcomes = {}

    def run(path):
        ticket = TicketFactory(creator=ana)
        db.session.flush()
        if path == "edit":
            edit = {"status": TicketEdit(status=status), "assign": TicketEdit(assignee=ben),
                    "add_tag": TicketEdit(tags=[tag])}[kind]  # fmt: skip
            db.session.refresh(ticket, ["tags"])
            service.update_ticket(ticket, edit, actor=ana, expected_version=ticket.version)
        elif path == "bulk":
            value = {"status": getattr(status, "value", ""), "assign": str(ben.id),
                     "add_tag": str(tag.id)}[kind]  # fmt: skip
            result = bulk.bulk_update([ticket.id], action=kind, value=value, actor=ana,
                                      versions={ticket.id: ticket.version})  # fmt: skip
            assert result.updated == 1
        else:
            values = MacroValues(name=f"m-{path}-{change}", set_status=status,
                                 assign=AssignMode.USER if kind == "assign" else AssignMode.KEEP,
                                 assign_user_id=ben.id if kind == "assign" else None,
                                 add_tag_ids=[tag.id] if kind == "add_tag" else [])  # fmt: skip
            macro = macros.load_for_apply(macros.create_macro(values, actor=ana).id)
            if path == "macro":
                db.session.refresh(ticket, ["tags"])
                macros.apply_macro(ticket, macro, actor=ana, expected_version=ticket.version)
            else:
                result = macros.apply_bulk([ticket.id], macro, actor=ana,
                                           versions={ticket.id: ticket.version})  # fmt: skip
                assert result.updated == 1
        db.session.flush()
        outcomes[path] = (_state(ticket), _audit(ticket))

    for path in ("edit", "bulk", "macro", "macro_bulk"):
        run(path)
    assert len({repr(o) for o in outcomes.values()}) == 1, outcomes


def test_take_next_assigns_as_a_single_edit_would(app, people):
    ana, _ = people
    taken = TicketFactory()
    edited = TicketFactory()
    db.session.flush()
    assert queue.take_next(ana) is not None
    service.update_ticket(edited, TicketEdit(assignee=ana), actor=ana)
    db.session.flush()
    assert (
        _audit(taken)[0]
        == _audit(edited)[0]
        == ("ticket.updated", {"assignee_id": {"old": None, "new": ana.id}})
    )


def test_an_inactive_person_stays_assigned_but_is_never_newly_assigned_on_any_path(app, people):
    ana, ben = people
    kept = TicketFactory(assignee=ben)
    fresh = TicketFactory()
    db.session.flush()
    ben.is_active = False
    db.session.flush()
    db.session.refresh(kept, ["tags"])
    service.update_ticket(kept, TicketEdit(title="Still Ben's", assignee=ben), actor=ana)
    with pytest.raises(service.InvalidTicketError, match="not active"):
        service.update_ticket(fresh, TicketEdit(assignee=ben), actor=ana)
    result = bulk.bulk_update([kept.id, fresh.id], action="assign", value=str(ben.id), actor=ana)
    assert (result.updated, dict(result.skipped)) == (0, {Skip.UNCHANGED: 1, Skip.INACTIVE: 1})
    assert "1 the person chosen is not active" in result.summary()


def _state_of(status=TicketStatus.OPEN, version=3, assignee_id=None):
    return TicketState(status=status, version=version, updated_at=NOW, assignee_id=assignee_id)


@settings(max_examples=200, deadline=None)
@given(
    status=st.sampled_from(list(TicketStatus)),
    changed=st.sets(st.sampled_from(["title", "status", "assignee", "tags"])),
    expected=st.one_of(st.none(), st.integers(1, 5)),
)
def test_skip_reasons_follow_one_order(status, changed, expected):
    state = _state_of(status)
    reason = rules.skip_reason(state, changed, expected_version=expected)
    if expected is not None and expected != 3:
        assert reason == Skip.CHANGED
    elif not changed:
        assert reason == Skip.UNCHANGED
    elif status == TicketStatus.CLOSED and changed - {"status"}:
        assert reason == Skip.CLOSED
    else:
        assert reason is None


def test_the_status_rule_stamps_keeps_and_clears_resolved_at():
    earlier = NOW - dt.timedelta(days=1)
    assert rules.resolved_at_after(TicketStatus.RESOLVED, None, NOW) == NOW
    assert rules.resolved_at_after(TicketStatus.CLOSED, earlier, NOW) == earlier
    assert rules.resolved_at_after(TicketStatus.OPEN, earlier, NOW) is None


def test_stale_by_version_or_by_the_time_the_list_was_loaded():
    state = _state_of()
    assert rules.is_stale(state, expected_version=2)
    assert not rules.is_stale(state, expected_version=3)
    assert rules.is_stale(state, loaded_at=NOW - dt.timedelta(seconds=1))
    assert not rules.is_stale(state, loaded_at=NOW)
    assert not rules.is_stale(state)
