"""A due time set by hand: the rule (it stays through priority changes until cleared), the
side panel, the edit and new-ticket forms in the agent's own time zone, the API, the audit."""

import datetime as dt
import re

import pytest
import sqlalchemy as sa

from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import AuditLog, Ticket, TicketPriority
from supportdesk.tickets import rules, service
from supportdesk.tickets.rules import InvalidTicketError, TicketEdit, TicketState
from tests.factories import TicketFactory, UserFactory

P = TicketPriority
UTC = dt.UTC
BERLIN = dt.timezone(dt.timedelta(hours=1))  # Europe/Berlin in winter (the dates below)


def _in_days(days: int, hour: int = 9, minute: int = 30) -> dt.datetime:
    day = (utcnow() + dt.timedelta(days=days)).date()
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def _state(**kw) -> TicketState:
    now = utcnow()
    return TicketState(status="open", version=1, updated_at=now, **kw)


# ---- the rule, pure ---------------------------------------------------------------------


def test_clean_due_keeps_a_future_time_to_the_minute_in_utc_and_refuses_the_rest():
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    typed = dt.datetime(2026, 12, 3, 10, 15, 42, 999, tzinfo=BERLIN)
    assert rules.clean_due(typed, now=now) == dt.datetime(2026, 12, 3, 9, 15, tzinfo=UTC)
    assert rules.clean_due(None, now=now) is None  # back to the SLA
    for past in (now, now - dt.timedelta(minutes=1), dt.datetime(1, 1, 1, tzinfo=BERLIN)):
        with pytest.raises(InvalidTicketError, match="must be in the future"):
            rules.clean_due(past, now=now)
    far = now + rules.DUE_MAX_AHEAD + dt.timedelta(minutes=1)
    for too_far in (
        far,
        dt.datetime(9999, 12, 31, 23, 59, tzinfo=dt.timezone(-dt.timedelta(hours=5))),
    ):
        with pytest.raises(InvalidTicketError, match="five years"):
            rules.clean_due(too_far, now=now)
    with pytest.raises(InvalidTicketError, match="time zone"):
        rules.clean_due(dt.datetime(2026, 12, 3, 10, 0).replace(tzinfo=None), now=now)  # noqa: DTZ001


def test_a_due_time_is_a_change_only_when_it_differs_from_what_the_ticket_keeps():
    due = dt.datetime(2026, 12, 3, 9, 15, tzinfo=UTC)
    sla = _state(due_at=due, due_is_manual=False)
    manual = _state(due_at=due, due_is_manual=True)
    assert rules.changed_fields(sla, TicketEdit(due_at=None)) == set()
    assert rules.changed_fields(sla, TicketEdit(due_at=due)) == {"due_at"}  # now by hand
    assert rules.changed_fields(manual, TicketEdit(due_at=due.replace(second=30))) == set()
    assert rules.changed_fields(manual, TicketEdit(due_at=due.astimezone(BERLIN))) == set()
    assert rules.changed_fields(manual, TicketEdit(due_at=None)) == {"due_at"}
    assert rules.due_follows_priority(False, {"priority"})
    assert not rules.due_follows_priority(True, {"priority"})
    assert not rules.due_follows_priority(False, {"priority", "due_at"})
    assert not rules.due_follows_priority(False, {"status"})


# ---- the service ------------------------------------------------------------------------


def _audited(ticket_id: int) -> list[dict]:
    rows = db.session.scalars(
        sa.select(AuditLog.changes)
        .where(AuditLog.ticket_id == ticket_id, AuditLog.action == "ticket.updated")
        .order_by(AuditLog.id)
    )  # fmt: skip
    return list(rows)


def test_a_due_time_set_by_hand_stays_through_priority_changes_until_cleared(app):
    agent = UserFactory()
    ticket = TicketFactory(priority=P.MEDIUM)
    sla_due = ticket.due_at
    by_hand = _in_days(2)
    changed = service.update_ticket(ticket, TicketEdit(due_at=by_hand), actor=agent)
    assert changed == {"due_at"}
    assert (ticket.due_at, ticket.due_is_manual) == (by_hand, True)
    assert service.update_ticket(ticket, TicketEdit(priority=P.URGENT), actor=agent) == {"priority"}
    assert ticket.due_at == by_hand  # kept: set by hand
    service.update_ticket(ticket, TicketEdit(due_at=None), actor=agent)
    assert ticket.due_is_manual is False
    assert ticket.due_at == ticket.created_at + dt.timedelta(hours=4)  # urgent's SLA now
    assert ticket.due_at != sla_due
    # Priority and a new due time in one change: the due time given wins.
    again = _in_days(3)
    service.update_ticket(ticket, TicketEdit(priority=P.LOW, due_at=again), actor=agent)
    assert (ticket.due_at, ticket.due_is_manual) == (again, True)
    db.session.flush()
    changes = _audited(ticket.id)
    assert changes[0]["due_at"]["new"].startswith(by_hand.strftime("%Y-%m-%dT%H:%M"))
    assert changes[0]["due_is_manual"] == {"old": False, "new": True}
    assert "due_at" not in changes[1]  # the priority change left the hand-set time alone
    assert changes[2]["due_is_manual"] == {"old": True, "new": False}


def test_a_past_due_time_changes_nothing(app):
    agent = UserFactory()
    ticket = TicketFactory(priority=P.HIGH)
    db.session.commit()
    before = (ticket.due_at, ticket.version)
    with pytest.raises(InvalidTicketError, match="future"):
        service.update_ticket(ticket, TicketEdit(due_at=utcnow() - dt.timedelta(hours=1)),
                              actor=agent)  # fmt: skip
    db.session.rollback()
    fresh = db.session.get(Ticket, ticket.id)
    assert (fresh.due_at, fresh.version, fresh.due_is_manual) == (*before, False)


# ---- the pages, in the agent's own time zone ---------------------------------------------


def _quick(client, ticket, **fields):
    data = {"status": ticket.status.value, "priority": ticket.priority.value,
            "assignee": "", "version": ticket.version, **fields}  # fmt: skip
    return client.post(f"/tickets/{ticket.number}/update", data=data)


def _fresh(ticket_id: int) -> Ticket:
    db.session.expire_all()
    return db.session.get(Ticket, ticket_id)


def test_the_side_panel_sets_and_clears_a_due_time_in_the_agents_zone(agent_client, agent):
    agent.time_zone = "Europe/Berlin"
    db.session.commit()
    ticket = TicketFactory(priority=P.LOW)
    page = agent_client.get(f"/tickets/{ticket.number}").text
    assert re.search(r'<input[^>]*id="quick-due"[^>]*type="datetime-local"[^>]*value=""', page)
    assert "Empty: the SLA" in page
    day = (utcnow() + dt.timedelta(days=20)).date()  # winter in Berlin: UTC+1 in December…
    typed = f"{day:%Y-%m-%d}T14:30"
    saved = _quick(agent_client, ticket, due=typed)
    assert saved.status_code == 303
    fresh = _fresh(ticket.id)
    local = dt.datetime.fromisoformat(typed).replace(
        tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Berlin")
    )
    assert fresh.due_at == local.astimezone(UTC)
    assert fresh.due_is_manual is True
    page = agent_client.get(f"/tickets/{ticket.number}").text
    assert f'value="{typed}"' in page  # shown again as typed, in the agent's zone
    assert "set by hand" in page
    assert "set due time" in page  # the history line
    # Emptied: the SLA again.
    _quick(agent_client, fresh, due="")
    fresh = _fresh(ticket.id)
    assert fresh.due_is_manual is False
    assert fresh.due_at == fresh.created_at + dt.timedelta(hours=168)
    # Missing from the post (an older page): kept as it is.
    _quick(agent_client, fresh, status="in_progress")
    assert _fresh(ticket.id).due_is_manual is False


def test_the_side_panel_says_what_is_wrong_with_a_due_time_and_saves_nothing(agent_client):
    ticket = TicketFactory(priority=P.LOW)
    bad = _quick(agent_client, ticket, due="next tuesday", status="resolved")
    assert bad.status_code == 303
    page = agent_client.get(bad.headers["Location"]).text
    assert "The side panel was not saved. Due: Give a date and time" in page
    past = _quick(agent_client, ticket, due="2020-01-01T10:00", status="resolved")
    assert past.status_code == 422
    assert "must be in the future" in past.text
    assert 'value="2020-01-01T10:00"' in past.text  # what was typed is kept in the form
    fresh = _fresh(ticket.id)
    assert (fresh.status.value, fresh.due_is_manual, fresh.version) == ("open", False,
                                                                      ticket.version)  # fmt: skip


def test_a_due_time_typed_over_someone_elses_save_reaches_the_conflict_page(agent_client):
    ticket = TicketFactory(priority=P.LOW)
    page = agent_client.get(f"/tickets/{ticket.number}").text
    original = re.search(r'id="quick-original"[^>]*value="([^"]*)"|value="([^"]*)" '
                         r'id="quick-original"', page)  # fmt: skip
    original = next(g for g in original.groups() if g is not None).replace("&#34;", '"')
    other = UserFactory()
    service.update_ticket(ticket, TicketEdit(title="Renamed meanwhile"), actor=other)
    db.session.commit()
    day = (utcnow() + dt.timedelta(days=9)).date()
    typed = f"{day:%Y-%m-%d}T08:00"
    conflict = _quick(agent_client, ticket, due=typed, original=original,
                      version=ticket.version - 1)  # fmt: skip
    assert conflict.status_code == 409
    assert "Renamed meanwhile" in conflict.text
    assert f'value="{typed}"' in conflict.text  # my due time is in the merged form
    assert "due" in re.search(r"Your changes \(([^)]*)\)", conflict.text).group(1)


def test_the_edit_and_new_ticket_forms_carry_the_due_time(agent_client):
    day = (utcnow() + dt.timedelta(days=4)).date()
    made = agent_client.post("/tickets/new", data={
        "requester": "ana@example.org", "title": "With a deadline", "description": "x",
        "status": "open", "priority": "medium", "assignee": "",
        "due": f"{day:%Y-%m-%d}T17:00"})  # fmt: skip
    assert made.status_code == 303, made.text
    ticket = db.session.scalars(sa.select(Ticket).where(Ticket.title == "With a deadline")).one()
    assert ticket.due_is_manual
    assert ticket.due_at == dt.datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)
    form = agent_client.get(f"/tickets/{ticket.number}/edit").text
    assert f'value="{day:%Y-%m-%d}T17:00"' in form
