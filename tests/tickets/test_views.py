import datetime as dt

from supportdesk.db import utcnow
from supportdesk.models import TicketPriority, TicketStatus
from tests.factories import TicketFactory, UserFactory


def test_empty_desk_shows_a_friendly_empty_state(agent_client):
    response = agent_client.get("/tickets/")
    assert response.status_code == 200
    assert "No tickets yet" in response.get_data(as_text=True)


def test_list_shows_the_newest_25_tickets_with_their_fields(agent_client, agent):
    bea = UserFactory(full_name="Bea Assignee")
    now = utcnow()
    tickets = [
        TicketFactory(title=f"Ticket {i:02d}", created_at=now - dt.timedelta(minutes=i))
        for i in range(30)
    ]
    tickets[0].assignee = bea
    tickets[0].status = TicketStatus.WAITING_ON_CUSTOMER
    tickets[0].priority = TicketPriority.URGENT
    response = agent_client.get("/tickets/")
    text = response.get_data(as_text=True)
    assert text.count("<tr>") == 26  # header + 25 rows
    assert "Ticket 00" in text
    assert "Ticket 24" in text
    assert "Ticket 25" not in text
    assert tickets[0].reference in text
    assert "Bea Assignee" in text
    assert "Waiting on customer" in text
    assert "Urgent" in text
    assert text.index("Ticket 00") < text.index("Ticket 01")


def test_deleted_tickets_are_not_listed(agent_client):
    TicketFactory(title="Still here")
    TicketFactory(title="Thrown away", deleted_at=utcnow())
    text = agent_client.get("/tickets/").get_data(as_text=True)
    assert "Still here" in text
    assert "Thrown away" not in text


def test_list_query_budget_is_the_same_for_1_and_25_rows(agent_client):
    assignees = UserFactory.create_batch(3)
    TicketFactory(assignee=assignees[0])
    one = agent_client.get("/tickets/")
    for i in range(30):
        TicketFactory(assignee=assignees[i % 3])
    many = agent_client.get("/tickets/")
    # 1: the logged-in user; 2: tickets joined with their assignees.
    assert one.headers["X-DB-Query-Count"] == "2"
    assert many.headers["X-DB-Query-Count"] == "2"
