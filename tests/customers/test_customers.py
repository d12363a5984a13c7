import re

import pytest
import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.customers import service
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.customers.service import Address, InvalidCustomerError
from supportdesk.extensions import db
from supportdesk.models import Ticket
from supportdesk.tickets import requesters
from supportdesk.tickets import service as tickets
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CustomerFactory, TicketFactory, UserFactory


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ana@example.org", [Address("ana@example.org")]),
        ("Ana Silva <ana@example.org>", [Address("ana@example.org", "Ana Silva")]),
        ('"Silva, Ana" <ana@example.org>, ben@example.org',
         [Address("ana@example.org", "Silva, Ana"), Address("ben@example.org")]),
        ("ana@example.org\nBen <ben@example.org>; cy@example.org",
         [Address("ana@example.org"), Address("ben@example.org", "Ben"),
          Address("cy@example.org")]),
        ("ana@example.org, ANA@EXAMPLE.ORG", [Address("ana@example.org")]),
        ("José <jose@exámple.org>", [Address("jose@xn--exmple-qta.org", "José")]),
        ("  ,  ", []),
    ],
)  # fmt: skip
def test_addresses_are_parsed_as_people_type_them(typed, expected):
    assert service.parse_addresses(typed) == expected


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("not an address", "is not an email address"),
        ("ana@", "is not an email address"),
        ("jösé@example.org", "before the @"),
        ("ana@example.org\r\nBcc: evil@example.org", None),
        ("a" * 250 + "@example.org", "too long"),
        ("ana@example.org, , ben@", "'ben@' is not an email address"),
    ],
)
def test_bad_addresses_are_refused_with_a_reason(typed, message):
    if message is None:  # a line break splits the text: two plain addresses, never a header
        found = service.parse_addresses(typed)
        assert all("\n" not in a.email and "\r" not in a.email for a in found)
        assert [a.email for a in found] == ["ana@example.org"] or len(found) == 2
        return
    with pytest.raises(InvalidCustomerError, match=re.escape(message)):
        service.parse_addresses(typed)


def test_names_lose_control_characters():
    assert service.clean_text("Ana\r\nBcc: x@evil\x00", 120) == "Ana Bcc: x@evil"


def test_one_customer_per_address_whatever_the_case(app):
    first = service.find_or_create(Address("Ana@Example.org", "Ana"))
    again = service.find_or_create(Address("ana@example.ORG", "Someone Else"))
    assert again.id == first.id
    assert again.name == "Ana"  # an existing name is kept


def test_a_new_ticket_needs_a_requester_and_keeps_ccs_apart_from_it(agent_client):
    data = {"title": "Printer", "description": "Jammed", "status": "open", "priority": "low",
            "assignee": ""}  # fmt: skip
    refused = agent_client.post("/tickets/new", data={**data, "requester": ""})
    assert refused.status_code == 422
    assert "Who is asking?" in refused.text
    assert 'value="Printer"' in refused.text  # nothing typed is lost
    bad = agent_client.post("/tickets/new", data={**data, "requester": "nope"})
    assert bad.status_code == 422
    assert "is not an email address" in bad.text
    created = agent_client.post("/tickets/new", data={
        **data, "requester": "Rita Requester <rita@example.org>",
        "cc": "Rita <RITA@example.org>, carl@example.org, Carl <carl@example.org>"})  # fmt: skip
    assert created.status_code == 303
    ticket = db.session.scalars(sa.select(Ticket).where(Ticket.title == "Printer")).one()
    rita = db.session.get(Customer, ticket.requester_id)
    assert (rita.email, rita.name) == ("rita@example.org", "Rita Requester")
    ccs = db.session.scalars(
        sa.select(Customer.email)
        .join(ticket_ccs, ticket_ccs.c.customer_id == Customer.id)
        .where(ticket_ccs.c.ticket_id == ticket.id)
    ).all()
    assert ccs == ["carl@example.org"]  # the requester is never also a CC; no repeats
    page = agent_client.get(f"/tickets/{ticket.number}")
    assert "Rita Requester" in page.text
    assert "rita@example.org" in page.text
    assert "1 open, 1 in all" in page.text
    assert re.search(r"CC: <a [^>]*>Customer|CC: <a [^>]*>carl@example.org", page.text)


def test_requester_and_cc_changes_are_audited(app):
    actor, ana, ben = UserFactory(), CustomerFactory(), CustomerFactory()
    ticket = TicketFactory(requester=ana, ccs=[], tags=[])
    db.session.flush()
    tickets.update_ticket(ticket, TicketEdit(requester=ben, ccs=[ana, ben]), actor=actor)
    rows = db.session.execute(
        sa.select(AuditLog.action, AuditLog.changes)
        .where(AuditLog.ticket_id == ticket.id, AuditLog.action != "ticket.created")
        .order_by(AuditLog.id)
    ).all()
    assert rows == [
        ("ticket.updated", {"requester_id": {"old": ana.id, "new": ben.id}}),
        ("ticket.cc_added", {"ccs": {"added": [ana.id]}}),
    ]


def test_the_list_shows_and_filters_by_requester_in_four_statements(agent_client):
    ana = CustomerFactory(name="Ana Requester", email="ana.req@example.org")
    mine = [TicketFactory(requester=ana) for _ in range(3)]
    others = TicketFactory.create_batch(20)
    page = agent_client.get("/tickets/")
    assert page.headers["X-DB-Query-Count"] == "4"  # rows, options, user, the sidebar
    assert page.text.count("Ana Requester") == 3
    assert "Customer " in page.text
    only = agent_client.get("/tickets/", query_string={"requester": ana.id})
    assert only.headers["X-DB-Query-Count"] == "4"
    numbers = {int(n) for n in re.findall(r">SD-(\d+)</a>", only.text)}
    assert numbers == {t.number for t in mine}
    assert others[0].number not in numbers


@pytest.mark.parametrize("typed", ["ana.req@example.org", "ANA.REQ@EXAMPLE.ORG", "Ana Requester"])
def test_search_finds_tickets_by_requester_email_or_name(agent_client, typed):
    ana = CustomerFactory(name="Ana Requester", email="ana.req@example.org")
    hers = TicketFactory(requester=ana, title="Unrelated words")
    TicketFactory(title="Something else")
    agent_client.get("/tickets/", query_string={"q": "warm"})  # the first search probes FTS5
    page = agent_client.get("/tickets/", query_string={"q": typed})
    numbers = {int(n) for n in re.findall(r">SD-(\d+)</a>", page.text)}
    assert numbers == {hers.number}
    assert page.headers["X-DB-Query-Count"] == "4"  # rows, options, user, the sidebar


def test_customers_list_searches_by_prefix_and_pages_by_keyset(agent_client):
    for i in range(60):
        CustomerFactory(email=f"zz{i:02d}@example.org", name=f"Zed {i:02d}")
    CustomerFactory(email="ana@example.org", name="Ana")
    first = agent_client.get("/customers/", query_string={"q": "zz"})
    assert first.status_code == 200
    assert first.text.count("@example.org</a>") == 50
    assert "ana@example.org" not in first.text
    cursor = re.search(r'cursor=([^"&]+)', first.text).group(1)
    second = agent_client.get(f"/customers/?q=zz&cursor={cursor}")
    assert second.text.count("@example.org</a>") == 10
    assert first.headers["X-DB-Query-Count"] == second.headers["X-DB-Query-Count"] == "2"
    by_name = agent_client.get("/customers/", query_string={"q": "ana"})
    assert "ana@example.org" in by_name.text
    damaged = agent_client.get("/customers/?cursor=garbage")
    assert "page link was damaged" in damaged.text


def test_a_customer_page_lists_their_tickets_and_saves_edits(agent_client):
    ana = CustomerFactory(name="Ana", email="ana@example.org")
    tickets_ = [TicketFactory(requester=ana, title=f"Hers {i}") for i in range(3)]
    page = agent_client.get(f"/customers/{ana.id}")
    assert page.status_code == 200
    for ticket in tickets_:
        assert ticket.reference in page.text
    assert "3 open, 3 in all" in page.text
    saved = agent_client.post(f"/customers/{ana.id}", data={
        "email": "ana@example.org", "name": "Ana Silva", "organisation": "Acme",
        "notes": "Prefers mornings", "is_blocked": "y"})  # fmt: skip
    assert saved.status_code == 303
    db.session.expire_all()
    assert (ana.name, ana.organisation, ana.is_blocked) == ("Ana Silva", "Acme", True)
    other = CustomerFactory(email="other@example.org")
    clash = agent_client.post(f"/customers/{ana.id}", data={"email": other.email, "name": "X"})
    assert clash.status_code == 422
    assert "belongs to another customer" in clash.text
    assert agent_client.get("/customers/999999").status_code == 404


def test_admins_merge_customers_and_everything_moves_audited(admin_client, admin):
    ana, dup, carl = CustomerFactory(), CustomerFactory(notes="VIP"), CustomerFactory()
    closed = TicketFactory(requester=dup, status="closed")
    cc_only = TicketFactory(requester=carl, ccs=[dup])
    both = TicketFactory(requester=carl, ccs=[dup, ana])
    response = admin_client.post(f"/customers/{dup.id}/merge", data={"into": ana.email.upper()})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/customers/{ana.id}")
    db.session.expire_all()
    assert db.session.get(Customer, dup.id) is None
    assert db.session.get(Ticket, closed.id).requester_id == ana.id  # closed tickets too
    cc_rows = set(db.session.execute(sa.select(ticket_ccs.c.ticket_id, ticket_ccs.c.customer_id)))
    assert (cc_only.id, ana.id) in cc_rows
    assert (both.id, ana.id) in cc_rows
    assert not any(customer == dup.id for _, customer in cc_rows)
    assert "VIP" in db.session.get(Customer, ana.id).notes
    actions = db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.ticket_id.in_([closed.id, cc_only.id, both.id]),
        AuditLog.action != "ticket.created")).all()  # fmt: skip
    assert sorted(actions) == ["ticket.cc_added", "ticket.cc_removed", "ticket.cc_removed",
                               "ticket.updated"]  # fmt: skip
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "customer.deleted", AuditLog.entity_id == dup.id)) == 1  # fmt: skip


def test_agents_cannot_merge_and_a_customer_cannot_merge_into_itself(app, agent_client):
    ana = CustomerFactory()
    assert agent_client.post(f"/customers/{ana.id}/merge", data={"into": ana.email}) \
        .status_code == 403  # fmt: skip
    with pytest.raises(InvalidCustomerError):
        requesters.merge_customers(ana, ana, actor=UserFactory())


def test_editing_a_ticket_changes_its_requester_and_ccs(agent_client):
    ticket = TicketFactory()
    form = agent_client.get(f"/tickets/{ticket.number}/edit").text
    version = re.search(r'name="version" type="hidden" value="(\d+)"', form).group(1)
    original = re.search(r'name="original" type="hidden" value="([^"]*)"', form).group(1)
    data = {"requester": "New Person <new@example.org>", "cc": "c1@example.org",
            "title": ticket.title, "description": ticket.description, "status": "open",
            "priority": "medium", "assignee": "", "version": version,
            "original": original.replace("&#34;", '"')}  # fmt: skip
    saved = agent_client.post(f"/tickets/{ticket.number}/edit", data=data)
    assert saved.status_code == 303, saved.text[:2000]
    db.session.expire_all()
    fresh = db.session.get(Ticket, ticket.id)
    assert db.session.get(Customer, fresh.requester_id).email == "new@example.org"


def test_an_address_stored_with_non_ascii_never_breaks_a_page(agent_client):
    # Imported or old rows may hold what the form refuses today: pages still render.
    odd = CustomerFactory(name='Chloé "C" Ó, Jr.', email="chloé@exämple.org")
    ticket = TicketFactory(requester=odd, ccs=[CustomerFactory(name="Zoë", email="zoë@x.org")])
    assert agent_client.get(f"/tickets/{ticket.number}").status_code == 200
    edit = agent_client.get(f"/tickets/{ticket.number}/edit")
    assert edit.status_code == 200
    assert "chloé@exämple.org" in edit.text
    assert service.parse_addresses(service.format_address('Chloé "C" Ó, Jr.', "c@x.org")) == [
        Address("c@x.org", 'Chloé "C" Ó, Jr.')]  # fmt: skip
