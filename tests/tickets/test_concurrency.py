"""Eight agents hammer one ticket over HTTP: no update is ever lost (PostgreSQL)."""

import threading

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.models import Ticket, User
from supportdesk.tickets.service import create_ticket
from tests.conftest import PASSWORD
from tests.factories import CustomerFactory
from tests.http import Browserless, hidden

pytestmark = pytest.mark.postgresql_only

THREADS = 8
ATTEMPTS = 6


def test_concurrent_edits_either_succeed_or_conflict_and_none_is_lost(live_server):
    with live_server.app.app_context():
        with acting_as("test"), unit_of_work():
            creator = db.session.scalar(
                sa.select(User).where(User.email == live_server.users["agent"])
            )
            ticket = create_ticket(
                requester=CustomerFactory(),
                title="v1 start",
                description="hammered",
                creator=creator,
            )
        number, ticket_id = ticket.number, ticket.id

    outcomes: list[tuple[int, str]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def agent(index: int) -> None:
        try:
            client = Browserless(live_server.url)
            client.login(live_server.users["agent"], PASSWORD)
            start.wait(timeout=30)
            for attempt in range(ATTEMPTS):
                form = client.request(f"/tickets/{number}/edit").text
                version = int(hidden(form, "version"))
                title = f"v{version + 1} by thread {index} attempt {attempt}"
                response = client.request(
                    f"/tickets/{number}/edit",
                    {"csrf_token": hidden(form), "version": version,
                     "original": hidden(form, "original"), "title": title,
                     "description": "hammered", "status": "open", "priority": "medium",
                     "assignee": ""},
                )  # fmt: skip
                with lock:
                    outcomes.append((response.status, title))
        except BaseException as exc:  # reported below, with the thread's traceback
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(outcomes) == THREADS * ATTEMPTS
    statuses = {status for status, _ in outcomes}
    assert statuses <= {303, 409}, statuses
    successes = [title for status, title in outcomes if status == 303]
    assert successes

    with live_server.app.app_context():
        final = db.session.get(Ticket, ticket_id)
        # Every successful write bumped the version exactly once, and the stored title is
        # the write that produced the final version: nothing was overwritten silently.
        assert final.version == 1 + len(successes)
        assert final.title.startswith(f"v{final.version} ")
        assert final.title in successes
        assert len({title.split()[0] for title in successes}) == len(successes)
