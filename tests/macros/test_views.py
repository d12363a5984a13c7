"""Macro pages and applying macros over HTTP: the reply box, Insert, conflicts, bulk."""

import re

import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.macros import service
from supportdesk.macros.models import AssignMode, Macro
from supportdesk.macros.service import MacroValues
from supportdesk.models import Comment, Ticket, TicketPriority, TicketStatus
from tests.factories import TagFactory, TicketFactory, UserFactory


def _make(actor, **values):
    values.setdefault("name", "Refund done")
    return service.create_macro(MacroValues(**values), actor=actor)


def _comments(ticket):
    stmt = sa.select(Comment).where(Comment.ticket_id == ticket.id).order_by(Comment.id)
    return list(db.session.scalars(stmt))


def test_admin_creates_a_macro_and_a_bad_placeholder_keeps_what_was_typed(admin_client):
    tag = TagFactory(name="billing")
    typed = "Dear {{ customer_phone }}, refunded on {{ ticket.reference }}."
    form = {"name": "Refund", "body": typed, "set_status": "resolved", "set_priority": "",
            "assign": "me", "add_tags": [str(tag.id)]}  # fmt: skip
    response = admin_client.post("/macros/new", data=form)
    assert response.status_code == 422
    assert "{{ customer_phone }} is not a placeholder" in response.text
    assert "Dear {{ customer_phone }}, refunded on {{ ticket.reference }}." in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Macro)) == 0
    form["body"] = "Refunded on {{ ticket.reference }}."
    response = admin_client.post("/macros/new", data=form)
    assert response.status_code == 303
    page = admin_client.get("/macros/")
    assert "sets status Resolved; assigns the agent applying it; adds tags billing" in page.text


def test_the_macros_page_costs_the_same_statements_for_1_and_20_macros(admin_client, admin):
    tags = TagFactory.create_batch(3)
    person = UserFactory()
    counts = []
    for total in (1, 20):
        while db.session.scalar(sa.select(sa.func.count()).select_from(Macro)) < total:
            n = db.session.scalar(sa.select(sa.func.count()).select_from(Macro))
            _make(admin, name=f"M{n}", body="x", add_tag_ids=[tags[n % 3].id],
                  assign=AssignMode.USER, assign_user_id=person.id)  # fmt: skip
        response = admin_client.get("/macros/")
        assert response.status_code == 200
        assert response.text.count('href="/macros/') >= total
        counts.append(response.headers["X-DB-Query-Count"])
    # user; tag/staff/macro names; macros; their tag actions; their assignees.
    assert counts == ["5", "5"]


def test_editing_over_another_admins_save_is_refused_and_keeps_the_text(admin_client, admin):
    macro = _make(admin, body="First")
    stale = macro.version
    service.update_macro(macro, MacroValues(name="Refund done", body="Second"), actor=admin,
                         expected_version=stale)  # fmt: skip
    response = admin_client.post(
        f"/macros/{macro.id}/edit",
        data={"name": "Refund done", "body": "Mine", "assign": "keep", "version": stale},
    )
    assert response.status_code == 422
    assert "Another admin saved this macro" in response.text
    assert "Mine</textarea>" in response.text
    # Saving the kept text again is a deliberate overwrite of the newer version.
    assert f'name="version" type="hidden" value="{stale + 1}"' in response.text
    db.session.expire_all()
    assert db.session.get(Macro, macro.id).body == "Second"


def test_the_reply_box_offers_each_macro_filled_in_for_this_ticket(agent_client, agent):
    ticket = TicketFactory(title="Printer <on fire>")
    _make(agent, name="Ack", body="{{ agent.first_name }} on {{ ticket.title }}",
          set_status=TicketStatus.IN_PROGRESS)  # fmt: skip
    _make(agent, name="Note", body="internal", is_internal=True)
    text = agent_client.get(f"/tickets/{ticket.number}").text
    first = agent.full_name.split(" ")[0]
    assert f'data-body="{first} on Printer &lt;on fire&gt;"' in text
    assert ">Ack (also changes the ticket)</option>" in text
    assert re.search(r'data-internal="y">Note</option>', text)


def test_adding_with_a_macro_and_an_empty_box_sends_its_text_and_applies_it(agent_client, agent):
    ticket = TicketFactory(tags=[])
    vip = TagFactory(name="vip")
    macro = _make(agent, body="Fixed in {{ ticket.reference }}.", set_status=TicketStatus.RESOLVED,
                  assign=AssignMode.ME, add_tag_ids=[vip.id])  # fmt: skip
    response = agent_client.post(
        f"/tickets/{ticket.number}/comments",
        data={"body": "", "macro": str(macro.id), "version": ticket.version},
    )
    assert response.status_code == 303
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status == TicketStatus.RESOLVED
    assert ticket.assignee_id == agent.id
    assert [c.body for c in _comments(ticket)] == [f"Fixed in {ticket.reference}."]
    page = agent_client.get(response.headers["Location"])
    assert "Applied “Refund done”: reply added; changed assignee, status, tags." in page.text


def test_insert_fills_the_box_after_what_was_typed_and_saves_nothing(agent_client, agent):
    ticket = TicketFactory()
    macro = _make(agent, body="Kind regards, {{ agent.full_name }}", is_internal=True)
    response = agent_client.post(
        f"/tickets/{ticket.number}/comments",
        data={"body": "Thanks for waiting.", "macro": str(macro.id), "insert": "1"},
    )
    assert response.status_code == 200
    assert f"Thanks for waiting.\n\nKind regards, {agent.full_name}</textarea>" in response.text
    assert re.search(r'id="is_internal"[^>]*checked|checked[^>]*id="is_internal"', response.text)
    assert _comments(ticket) == []


def test_a_macro_on_a_ticket_changed_meanwhile_is_refused_and_the_text_kept(agent_client, agent):
    ticket = TicketFactory(tags=[])
    seen = ticket.version
    ticket.priority = TicketPriority.URGENT  # a colleague's save
    db.session.flush()
    macro = _make(agent, body="x", set_status=TicketStatus.RESOLVED)
    response = agent_client.post(
        f"/tickets/{ticket.number}/comments",
        data={"body": "My careful answer", "macro": str(macro.id), "version": seen},
    )
    assert response.status_code == 409
    assert "was changed by someone else" in response.text
    assert "My careful answer</textarea>" in response.text
    assert f'name="version" type="hidden" value="{seen + 1}"' in response.text
    assert _comments(ticket) == []


def test_a_deleted_or_malformed_macro_is_a_message_and_the_text_kept(agent_client, agent):
    ticket = TicketFactory()
    for value, message in (("987654", "no longer exists"), ("abc", "Choose a macro")):
        response = agent_client.post(
            f"/tickets/{ticket.number}/comments", data={"body": "Keep me", "macro": value}
        )
        assert response.status_code == 422
        assert message in response.text
        assert "Keep me</textarea>" in response.text
    assert _comments(ticket) == []


def test_the_bulk_bar_applies_a_macro_to_the_selection(agent_client, agent):
    tickets = TicketFactory.create_batch(3, tags=[])
    macro = _make(agent, body="Bulk hello", set_priority=TicketPriority.URGENT)
    data = {"ids": [str(t.id) for t in tickets], "action": "macro", "value_macro": str(macro.id),
            "value_person": "me", "value_tag": "1"}  # fmt: skip
    response = agent_client.post("/tickets/bulk", data=data)
    assert response.status_code == 303
    page = agent_client.get(response.headers["Location"])
    assert "3 tickets updated." in page.text
    db.session.expire_all()
    for ticket in tickets:
        assert db.session.get(Ticket, ticket.id).priority == TicketPriority.URGENT
        assert [c.body for c in _comments(ticket)] == ["Bulk hello"]
    response = agent_client.post("/tickets/bulk", data=dict(data, value_macro="424242"))
    assert "Choose an existing macro." in agent_client.get(response.headers["Location"]).text


def test_the_bulk_bar_reads_the_value_for_its_action_only(agent_client, agent):
    # A tag's id must never be taken for a person's: each action has its own select.
    ticket = TicketFactory(tags=[])
    other = UserFactory()
    data = {"ids": [str(ticket.id)], "action": "assign", "value_person": str(other.id),
            "value_tag": str(agent.id), "value_status": "closed"}  # fmt: skip
    assert agent_client.post("/tickets/bulk", data=data).status_code == 303
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).assignee_id == other.id


def test_a_replayed_action_only_macro_form_changes_nothing_twice(agent_client, agent):
    ticket = TicketFactory(tags=[])
    macro = _make(agent, name="Escalate", set_priority=TicketPriority.URGENT)
    before = ticket.version
    data = {"body": "", "macro": str(macro.id), "form_token": "ab" * 16}
    first = agent_client.post(f"/tickets/{ticket.number}/comments", data=data)
    again = agent_client.post(f"/tickets/{ticket.number}/comments", data=data)
    assert first.status_code == again.status_code == 303
    assert again.headers["Location"].endswith(f"/tickets/{ticket.number}")  # no "#cNone"
    db.session.expire_all()
    assert db.session.get(Ticket, ticket.id).version == before + 1  # applied once
    assert _comments(ticket) == []
