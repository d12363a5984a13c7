"""CSV export of the filtered list: exactly the filtered set, every page, neutralised cells."""

import csv
import datetime as dt
import gc
import io
import os
import tracemalloc

import pytest
import sqlalchemy as sa

from supportdesk.audit.listeners import audited_bulk
from supportdesk.csvexport import stream_csv
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import TicketPriority, TicketStatus
from supportdesk.tickets import export
from supportdesk.tickets.queries import TicketFilters
from tests.factories import CommentFactory, CustomerFactory, TagFactory, TicketFactory, UserFactory


def _csv(response):
    assert response.status_code == 200, response.text[:500]
    assert response.mimetype == "text/csv"
    assert response.headers["Cache-Control"] == "no-store"
    assert "attachment;" in response.headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.text)))


def test_export_holds_exactly_the_filtered_set_across_all_pages(agent_client):
    billing = TagFactory(name="billing")
    bea = UserFactory(full_name="Bea Agent", email="bea@example.com")
    wanted = [
        TicketFactory(title=f"Open {i}", status=TicketStatus.OPEN, tags=[billing])
        for i in range(30)
    ]  # fmt: skip (more than a page of the list)
    wanted[0].assignee = bea
    wanted[0].priority = TicketPriority.URGENT
    wanted[0].requester = CustomerFactory(name="Rita Requester", email="rita@example.org")
    CommentFactory.create_batch(2, ticket=wanted[0])
    TicketFactory(title="Closed one", status=TicketStatus.CLOSED, tags=[billing])
    TicketFactory(title="Open, other tag", status=TicketStatus.OPEN)
    TicketFactory(title="Deleted", status=TicketStatus.OPEN, tags=[billing], deleted_at=utcnow())
    rows = _csv(agent_client.get(f"/tickets/export.csv?status=open&tag={billing.id}"))
    assert sorted(r["number"] for r in rows) == sorted(t.reference for t in wanted)
    first = next(r for r in rows if r["number"] == wanted[0].reference)
    assert first["assignee"] == "Bea Agent"
    assert first["assignee_email"] == "bea@example.com"
    assert (first["requester"], first["requester_email"]) == ("Rita Requester", "rita@example.org")
    assert first["priority"] == "urgent"
    assert first["status"] == "open"
    assert first["tags"] == "billing"
    assert first["comments"] == "2"
    assert dt.datetime.fromisoformat(first["created_at"]).tzinfo is not None
    assert dt.datetime.fromisoformat(first["due_at"]) == wanted[0].due_at
    assert first["due_set_by_hand"] == "no"


def test_export_follows_the_search_box_uncapped(agent_client):
    hits = [TicketFactory(title=f"Toner empty {i}") for i in range(3)]
    TicketFactory(title="Paper jam")
    rows = _csv(agent_client.get("/tickets/export.csv?q=toner"))
    assert sorted(r["number"] for r in rows) == sorted(t.reference for t in hits)


def test_formula_cells_are_neutralised(agent_client):
    for title in ('=HYPERLINK("http://evil")', "+1+1", "-2", "@SUM(A1)", "\tx", "plain"):
        TicketFactory(title=title)
    titles = {r["title"] for r in _csv(agent_client.get("/tickets/export.csv"))}
    assert titles == {'\'=HYPERLINK("http://evil")', "'+1+1", "'-2", "'@SUM(A1)", "'\tx", "plain"}


def test_an_invalid_filter_refuses_the_export_instead_of_widening_it(agent_client):
    TicketFactory()
    response = agent_client.get("/tickets/export.csv?status=bogus")
    assert response.status_code == 400
    assert "The export was not made" in response.text
    assert "Status" in response.text


def test_cli_export_writes_the_same_rows(app, runner, tmp_path):
    billing = TagFactory(name="Billing")
    wanted = TicketFactory(title="=cmd|' /C calc'!A0", status=TicketStatus.OPEN, tags=[billing])
    TicketFactory(status=TicketStatus.CLOSED, tags=[billing])
    out = tmp_path / "open.csv"
    result = runner.invoke(
        args=["export", "tickets", "--status", "open", "--tag", "billing", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Exporting 1 tickets" in result.output  # the progress bar (standard error)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["number"] for r in rows] == [wanted.reference]
    assert rows[0]["title"].startswith("'=")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--status", "bogus"], "Invalid value for '--status'"),
        (["--tag", "no-such-tag"], "no tag 'no-such-tag'"),
        (["--assignee", "nobody@example.com"], "no user 'nobody@example.com'"),
        (["--assignee", "me"], "'me' has no meaning here"),
        (["--q", "%%%"], "no letters or digits"),
        (["--created-from", "yesterday"], "Invalid value for '--created-from'"),
    ],
)
def test_cli_export_refuses_bad_filters_with_a_message(runner, args, message):
    result = runner.invoke(args=["export", "tickets", *args])
    assert result.exit_code == 2
    assert message in result.output


def _bulk_tickets(start, n, creator_id):
    # Set-based insert of n plain tickets (PostgreSQL): the factories would take minutes.
    with audited_bulk():
        db.session.execute(
            sa.text(
                "INSERT INTO tickets (number, title, description, status, priority, creator_id,"
                " version, created_at, updated_at, due_at) SELECT :start + g, 'Bulk ticket ' || g,"
                " 'Generated for the export memory test.', 'open', 2, :creator, 1,"
                " now() - g * interval '1 second', now(), now() - g * interval '1 second'"
                " + interval '72 hours' FROM generate_series(1, :n) AS g"
            ),
            {"creator": creator_id, "n": n, "start": start},
        )


@pytest.mark.postgresql_only
def test_export_memory_stays_flat_from_20k_to_200k_rows(app, capsys):
    creator = UserFactory()
    db.session.flush()

    def peak(n_rows):
        # tracemalloc sees Python objects; RSS also sees libpq's buffers, which would hold
        # every row at once without a server-side cursor.
        filters = TicketFilters(q="", sort="created")
        gc.collect()
        rss_before = rss_top = _rss()
        tracemalloc.start()
        written = 0
        for chunk in stream_csv(export.COLUMNS, export.rows(filters, user_id=None)):
            written += chunk.count("\n")
            rss_top = max(rss_top, _rss())
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert written == n_rows + 1
        return top, rss_top - rss_before

    _bulk_tickets(500_000, 20_000, creator.id)
    small, small_rss = peak(20_000)
    _bulk_tickets(600_000, 180_000, creator.id)
    large, large_rss = peak(200_000)
    with capsys.disabled():
        print(f"\nexport peak: 20k rows {small / 1e6:.2f} MB traced, RSS +{small_rss / 1e6:.1f} MB;"
              f" 200k rows {large / 1e6:.2f} MB traced, RSS +{large_rss / 1e6:.1f} MB")  # fmt: skip
    assert large < small * 1.5
    assert large < 16e6
    assert large_rss < 20e6  # 200k rows of ~250 bytes held at once would be 50 MB+


def _rss():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
