"""Proof that the audit trail is complete: rebuild every ticket from the log alone.

A hypothesis state machine runs random sequences of real operations (service calls and
HTTP requests: create, edit, status, assign, tag/untag, bulk actions, delete, restore,
comments); after each sequence, every ticket it touched is rebuilt from its audit rows
and must equal the database row.
"""

import contextlib

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test
from sqlalchemy.orm import selectinload

from supportdesk.audit.listeners import serialize
from supportdesk.audit.queries import rebuild_tickets
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.models import Ticket, TicketPriority, TicketStatus
from supportdesk.tickets import service
from supportdesk.tickets.bulk import bulk_update
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CustomerFactory, TagFactory, UserFactory

EXAMPLES = 200
FIELDS = ("number", "title", "description", "status", "priority", "creator_id", "assignee_id",
          "resolved_at", "deleted_at", "deleted_by_id")  # fmt: skip

titles = st.text(alphabet="abcdefghij XYZ", min_size=1, max_size=20).filter(str.strip)
statuses = st.sampled_from(list(TicketStatus))
priorities = st.sampled_from(list(TicketPriority))


def _load(ticket_id):
    return db.session.scalars(
        sa.select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.tags))
    ).one()


def _db_state(ticket):
    state = {field: serialize(getattr(ticket, field)) for field in FIELDS}
    state["tags"] = {tag.id for tag in ticket.tags}
    return state


def test_every_ticket_can_be_rebuilt_from_the_audit_log(app, agent, login_as):
    client = login_as(agent)
    staff = [agent, *UserFactory.create_batch(2)]
    admin = UserFactory(admin=True)  # restores anything (an agent only their own, for 30 s)
    tags = TagFactory.create_batch(4)
    db.session.commit()

    class Desk(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.ids = []

        def _pick(self, data):
            return _load(data.draw(st.sampled_from(self.ids)))

        @rule(title=titles, status=statuses, priority=priorities,
              who=st.integers(0, 3), tag_ids=st.sets(st.integers(0, 3)))  # fmt: skip
        def create(self, title, status, priority, who, tag_ids):
            ticket = service.create_ticket(
                requester=CustomerFactory(),
title=title, description="described", creator=staff[0], priority=priority,
                status=status, assignee=staff[who] if who < 3 else None,
                tags=[tags[i] for i in tag_ids],
            )  # fmt: skip
            self.ids.append(ticket.id)

        @precondition(lambda self: self.ids)
        @rule(data=st.data(), title=titles, priority=priorities, tag_ids=st.sets(st.integers(0, 3)))
        def edit(self, data, title, priority, tag_ids):
            ticket = self._pick(data)
            changes = {"title": title, "priority": priority, "tags": [tags[i] for i in tag_ids]}
            with contextlib.suppress(DomainError):  # closed tickets refuse edits; nothing logged
                service.update_ticket(ticket, TicketEdit(**changes), actor=staff[1],
                                      expected_version=ticket.version)  # fmt: skip

        @precondition(lambda self: self.ids)
        @rule(data=st.data(), status=statuses, who=st.integers(0, 3))
        def quick_update_over_http(self, data, status, who):
            ticket = self._pick(data)
            client.post(
                f"/tickets/{ticket.number}/update",
                data={"status": status.value, "version": str(ticket.version),
                      "assignee": str(staff[who].id) if who < 3 else ""},
            )  # fmt: skip
            db.session.expire_all()

        @precondition(lambda self: self.ids)
        @rule(data=st.data(), action=st.sampled_from(["status", "assign", "add_tag",
                                                      "remove_tag", "delete"]))  # fmt: skip
        def bulk(self, data, action):
            chosen = data.draw(st.lists(st.sampled_from(self.ids), min_size=1, max_size=4))
            value = {
                "status": data.draw(statuses).value,
                "assign": data.draw(st.sampled_from(["me", "none", str(staff[2].id)])),
                "add_tag": str(data.draw(st.sampled_from(tags)).id),
                "remove_tag": str(data.draw(st.sampled_from(tags)).id),
                "delete": "",
            }[action]
            bulk_update(chosen, action=action, value=value, actor=staff[2])

        @precondition(lambda self: self.ids)
        @rule(data=st.data(), delete=st.booleans())
        def trash(self, data, delete):
            ticket = self._pick(data)
            if delete:
                service.delete_ticket(ticket, actor=staff[0])
            else:
                service.restore_ticket(ticket, actor=admin)

        @precondition(lambda self: self.ids)
        @rule(data=st.data(), internal=st.booleans())
        def comment(self, data, internal):
            with contextlib.suppress(DomainError):  # closed tickets refuse comments
                service.add_comment(self._pick(data), author=staff[1], body="note",
                                    is_internal=internal)  # fmt: skip

        def teardown(self):
            db.session.flush()
            db.session.expire_all()
            rebuilt = rebuild_tickets(self.ids)
            for ticket_id in self.ids:
                state = rebuilt[ticket_id]
                expected = _db_state(_load(ticket_id))
                assert {k: state.get(k) for k in expected} == expected, ticket_id

    run_state_machine_as_test(
        Desk,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=8,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
