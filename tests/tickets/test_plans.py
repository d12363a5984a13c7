"""The list's default view and common filters are served by indexes (PostgreSQL).

At the 20,000 tickets a test can afford, a sequential scan is often the cheapest plan, so
the plans are taken with ``enable_seqscan = off``: PostgreSQL then still scans the table
when no index can serve a query, which is exactly what this test must catch. The 1M-ticket
figures (README, "Benchmarks") show the planner choosing these indexes on its own.
"""

import pytest
import sqlalchemy as sa

from supportdesk.audit.listeners import audited_bulk
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import Tag, Ticket, TicketPriority, TicketStatus, User
from supportdesk.seed import seed_demo_data
from supportdesk.tickets import queries

pytestmark = pytest.mark.postgresql_only

CASES = {
    "default": {},
    "open": {"statuses": [TicketStatus.OPEN]},
    "active": {"statuses": [TicketStatus.OPEN, TicketStatus.IN_PROGRESS]},
    "urgent open": {"statuses": [TicketStatus.OPEN], "priorities": [TicketPriority.URGENT]},
    "mine": {"assignee": "me"},
    "unassigned": {"assignee": "none", "statuses": [TicketStatus.OPEN]},
    "tag": {"tag_ids": "first"},
    "updated": {"sort": "updated"},
    "priority": {"sort": "priority"},
    "number": {"sort": "number", "direction": "asc"},
    "due": {"sort": "due", "direction": "asc"},
}


@pytest.fixture
def seeded(app):
    seed_demo_data(tickets=20_000, seed=5, comments_per_ticket=1)
    db.session.execute(sa.text("ANALYZE tickets"))
    db.session.execute(sa.text("ANALYZE ticket_tags"))
    db.session.execute(sa.text("ANALYZE comments"))
    return app


def _plans_of(filters, user_id, cursor=None):
    statements = []
    connection = db.session.connection()

    def capture(conn, cursor_, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        page = queries.list_tickets(filters, user_id=user_id, secret="s", tags=[], cursor=cursor)
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    plans = []
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    for statement, parameters in statements:
        raw = connection.connection.dbapi_connection.cursor()
        raw.execute("EXPLAIN " + statement, parameters)
        plans.append("\n".join(row[0] for row in raw.fetchall()))
        raw.close()
    return page, plans


def test_list_queries_never_scan_the_tickets_table(seeded):
    user_id = db.session.scalar(sa.select(User.id).order_by(User.id).limit(1))
    tag_id = db.session.scalar(sa.select(Tag.id).order_by(Tag.id).limit(1))
    scanned = {}
    for case, kwargs in CASES.items():
        kwargs = dict(kwargs, **({"tag_ids": [tag_id]} if "tag_ids" in kwargs else {}))
        filters = queries.TicketFilters(**kwargs)
        page, plans = _plans_of(filters, user_id)
        assert page.rows, case
        assert page.next_cursor, case
        _, deeper = _plans_of(filters, user_id, cursor=page.next_cursor)  # a later page
        scans = [p for p in plans + deeper if "Seq Scan on tickets" in p]
        if scans:
            scanned[case] = scans[0]
    assert scanned == {}


def test_the_plan_check_detects_a_query_no_index_serves(seeded):
    # Guard against a check that cannot fail: titles are not indexed.
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = db.session.execute(sa.text("EXPLAIN SELECT id FROM tickets WHERE title = 'x'"))
    assert "Seq Scan on tickets" in "\n".join(row[0] for row in plan)


def test_the_trash_page_reads_only_the_deleted_tickets_index(seeded):
    # Before ix_tickets_trash an admin's trash (empty or not) was a sequential scan and a
    # sort of every ticket: 184 ms at 1M. Its first and a later page use the index alone.
    ids = db.session.scalars(sa.select(Ticket.id).order_by(Ticket.id).limit(60)).all()
    now = utcnow()
    with audited_bulk():  # a test's shortcut: the trash's own path is tested elsewhere
        db.session.execute(
            sa.update(Ticket).where(Ticket.id.in_(ids)).values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )  # fmt: skip
    db.session.execute(sa.text("ANALYZE tickets"))
    statements = []
    connection = db.session.connection()

    def capture(conn, cursor_, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", capture)
    try:
        page, cursor = queries.trash_page("s")
        later, _ = queries.trash_page("s", cursor)
    finally:
        sa.event.remove(connection, "before_cursor_execute", capture)
    assert len(page) == queries.TRASH_PAGE
    assert len(page) + len(later) == 60
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    for statement, parameters in statements:
        raw = connection.connection.dbapi_connection.cursor()
        raw.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(row[0] for row in raw.fetchall())
        raw.close()
        assert "ix_tickets_trash" in plan, plan
        assert "Seq Scan on tickets" not in plan, plan
