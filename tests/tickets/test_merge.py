"""Merging a duplicate into another ticket: moves, refusals, audit, concurrency."""

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.audit.models import AuditLog
from supportdesk.customers.models import ticket_ccs
from supportdesk.db import unit_of_work, utcnow
from supportdesk.extensions import db
from supportdesk.models import Comment, Ticket, TicketStatus
from supportdesk.tickets.merge import MergeRefusedError, merge_ticket
from supportdesk.tickets.service import create_ticket
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD
from tests.factories import CommentFactory, CustomerFactory, TagFactory, TicketFactory, UserFactory
from tests.http import Browserless, hidden


def _at(minutes):
    return utcnow() - dt.timedelta(minutes=minutes)


def test_merge_moves_replies_in_order_unions_tags_and_closes_the_duplicate(app):
    actor = UserFactory(full_name="Mia Merger")
    billing, vip, bug = TagFactory(name="billing"), TagFactory(name="vip"), TagFactory(name="bug")
    target = TicketFactory(title="Printer broken", tags=[billing, bug])
    dupe = TicketFactory(title="Printer still broken", tags=[vip, bug])
    a1 = CommentFactory(ticket=target, body="A first", created_at=_at(50))
    b1 = CommentFactory(ticket=dupe, body="B first", created_at=_at(40))
    a2 = CommentFactory(ticket=target, body="A second", created_at=_at(30))
    b2 = CommentFactory(ticket=dupe, body="B second", created_at=_at(20), is_internal=True)
    db.session.flush()
    merge_ticket(dupe.id, into_number=target.number, actor=actor)
    db.session.expire_all()
    thread = db.session.scalars(
        sa.select(Comment.id).where(Comment.ticket_id == target.id)
        .order_by(Comment.created_at, Comment.id)
    ).all()  # fmt: skip
    assert thread[:4] == [a1.id, b1.id, a2.id, b2.id]  # in time order, notes included
    merged_note = sa.and_(Comment.is_internal.is_(True), Comment.body.ilike("%merged%"))
    notes = db.session.scalars(sa.select(Comment).where(merged_note))
    assert {(n.ticket_id, n.body.split(" by ")[0]) for n in notes.all()} >= {
        (target.id, f"{dupe.reference} (Printer still broken) was merged into this ticket"),
        (dupe.id, f"Merged into {target.reference}"),
    }
    merged, kept = db.session.get(Ticket, dupe.id), db.session.get(Ticket, target.id)
    assert merged.status == TicketStatus.CLOSED
    assert merged.resolved_at is not None
    assert merged.merged_into_id == target.id
    assert sorted(t.name for t in kept.tags) == ["billing", "bug", "vip"]
    # The audit trail has it on both tickets.
    on_dupe = db.session.scalars(
        sa.select(AuditLog).where(
            AuditLog.ticket_id == dupe.id, AuditLog.action == "ticket.updated"
        )
    )
    assert any("merged_into_id" in row.changes for row in on_dupe)
    moved = db.session.scalars(
        sa.select(AuditLog).where(
            AuditLog.action == "comment.updated", AuditLog.ticket_id == target.id
        )
    ).all()
    assert len(moved) == 2  # the two replies that moved, each its own row
    assert db.session.scalars(
        sa.select(AuditLog).where(
            AuditLog.ticket_id == target.id, AuditLog.action == "ticket.tag_added"
        )
    ).first()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("self", "cannot be merged into itself"),
        ("missing", "There is no ticket SD-999999"),
        ("deleted_target", "There is no ticket SD-"),  # as for a missing one: no trash leak
        ("deleted_source", "is in the trash; restore it first"),
        ("merged_target", "was itself merged into another ticket"),
        ("merged_source", "was already merged"),
    ],
)
def test_wrong_merges_are_refused_with_a_reason(app, case, message):
    actor = UserFactory()
    a, b, c = TicketFactory(), TicketFactory(), TicketFactory()
    db.session.flush()
    source, into = b, a.number
    if case == "self":
        into = b.number
    elif case == "missing":
        into = 999999
    elif case == "deleted_target":
        a.deleted_at = utcnow()
    elif case == "deleted_source":
        b.deleted_at = utcnow()
    elif case == "merged_target":
        merge_ticket(a.id, into_number=c.number, actor=actor)
    elif case == "merged_source":
        merge_ticket(b.id, into_number=c.number, actor=actor)
    db.session.flush()
    with pytest.raises(MergeRefusedError, match=message):
        merge_ticket(source.id, into_number=into, actor=actor)


def test_a_cycle_is_refused(app):
    actor = UserFactory()
    a, b = TicketFactory(), TicketFactory()
    db.session.flush()
    merge_ticket(a.id, into_number=b.number, actor=actor)
    with pytest.raises(MergeRefusedError):
        merge_ticket(b.id, into_number=a.number, actor=actor)  # b -> a -> b


def test_the_merge_form_and_the_redirect(agent_client):
    target, dupe = TicketFactory(title="Keep me"), TicketFactory(title="Duplicate")
    response = agent_client.post(f"/tickets/{dupe.number}/merge", data={"into": target.reference})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/tickets/{target.number}")
    old_url = agent_client.get(f"/tickets/{dupe.number}")
    assert old_url.status_code == 302
    assert old_url.headers["Location"].endswith(f"/tickets/{target.number}")
    page = agent_client.get(f"/tickets/{dupe.number}", follow_redirects=True).text
    assert f"{dupe.reference} was merged into {target.reference}." in page
    refused = agent_client.post(f"/tickets/{target.number}/merge", data={"into": "banana"},
                                follow_redirects=True)  # fmt: skip
    assert "Type the number of the ticket to merge into" in refused.text
    itself = agent_client.post(
        f"/tickets/{target.number}/merge", data={"into": str(target.number)}, follow_redirects=True
    )
    assert "Not merged: A ticket cannot be merged into itself." in itself.text


@pytest.mark.postgresql_only
def test_concurrent_merges_of_the_same_ticket_exactly_one_wins(live_server):
    emails = [f"merger-{i}@example.com" for i in range(8)]
    with live_server.app.app_context(), acting_as("test"), unit_of_work():
        users = [create_user(email, full_name=email, password=PASSWORD) for email in emails]
        dupe = create_ticket(
            requester=CustomerFactory(), title="Dupe", description="merge me", creator=users[0]
        )
        targets = [
            create_ticket(
                requester=CustomerFactory(), title=f"Target {i}", description="t", creator=users[0]
            )
            for i in range(8)
        ]
        dupe_number, dupe_id = dupe.number, dupe.id
        target_numbers = [t.number for t in targets]
    statuses: list[tuple[int, str | None]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def agent(index):
        try:
            client = Browserless(live_server.url)
            client.login(emails[index], PASSWORD)
            token = hidden(client.request(f"/tickets/{dupe_number}").text)
            start.wait(timeout=30)
            response = client.request(
                f"/tickets/{dupe_number}/merge",
                {"csrf_token": token, "into": target_numbers[index]},
            )
            statuses.append((response.status, response.location))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [s for s, _ in statuses] == [303] * 8  # the losers are told, not crashed
    winners = [loc for _, loc in statuses if not loc.endswith(f"/tickets/{dupe_number}")]
    assert len(winners) == 1
    with live_server.app.app_context():
        merged = db.session.get(Ticket, dupe_id)
        assert merged.merged_into_id is not None
        into = db.session.get(Ticket, merged.merged_into_id)
        assert winners[0].endswith(f"/tickets/{into.number}")
        notes = db.session.scalar(sa.select(sa.func.count()).select_from(Comment).where(
            Comment.ticket_id == dupe_id, Comment.body.like("Merged into%")))  # fmt: skip
        assert notes == 1
        db.session.remove()


def test_the_duplicates_requester_and_ccs_are_copied_on_the_ticket_kept(app):
    actor = UserFactory()
    ana, ben, cy = CustomerFactory(), CustomerFactory(), CustomerFactory()
    kept = TicketFactory(requester=ana, ccs=[cy])
    dupe = TicketFactory(requester=ben, ccs=[ana, cy])
    db.session.flush()
    merge_ticket(dupe.id, into_number=kept.number, actor=actor)
    db.session.expire_all()
    ccs = db.session.scalars(
        sa.select(ticket_ccs.c.customer_id).where(ticket_ccs.c.ticket_id == kept.id)
    ).all()
    assert sorted(ccs) == sorted([cy.id, ben.id])  # ana asks already; cy is not doubled
