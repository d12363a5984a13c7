"""The reports page against a small desk whose every figure was computed by hand."""

import datetime as dt
import random
from collections import Counter

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import Ticket, TicketPriority, TicketStatus
from supportdesk.reports import charts
from supportdesk.reports.queries import (
    WEEKLY_TOP,
    Report,
    ReportScope,
    WeeklyRank,
    build_report,
    count_created,
    top_tags,
    weekly_ranks,
)
from supportdesk.tickets import service
from supportdesk.tickets.rules import TicketEdit
from tests.factories import CommentFactory, TagFactory, TicketFactory, UserFactory
from tests.html_safety import script_risks

S, P = TicketStatus, TicketPriority
START, END = dt.date(2026, 3, 2), dt.date(2026, 3, 15)  # a Monday, two ISO weeks


def at(text):
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def desk(app):
    ana = UserFactory(full_name="Ana")
    ben = UserFactory(full_name="Ben")
    cy = UserFactory(full_name="Cy")
    billing, vip = TagFactory(name="billing"), TagFactory(name="vip")

    def ticket(created, resolved, assignee, status, priority=P.MEDIUM, tags=()):
        return TicketFactory(created_at=at(created), resolved_at=resolved and at(resolved),
                             assignee=assignee, status=status, priority=priority,
                             tags=list(tags))  # fmt: skip

    t = {
        1: ticket("2026-02-20 10:00", "2026-03-03 10:00", ana, S.RESOLVED),
        2: ticket("2026-02-25 10:00", None, ben, S.OPEN, tags=[vip]),
        3: ticket("2026-02-26 10:00", "2026-02-28 10:00", ana, S.CLOSED),
        4: ticket("2026-03-02 09:00", "2026-03-02 21:00", ana, S.RESOLVED, P.HIGH, [billing]),
        5: ticket("2026-03-03 00:00", "2026-03-04 00:00", ben, S.CLOSED, P.LOW),
        6: ticket("2026-03-04 12:00", None, ana, S.OPEN, P.URGENT, [billing]),
        7: ticket("2026-03-09 08:00", "2026-03-10 08:00", ben, S.RESOLVED),
        8: ticket("2026-03-10 10:00", "2026-03-12 10:00", ben, S.RESOLVED, tags=[billing]),
        9: ticket("2026-03-11 00:00", "2026-03-11 06:00", cy, S.RESOLVED),
        10: ticket("2026-03-16 10:00", None, cy, S.OPEN),
        12: ticket("2026-03-09 12:00", "2026-03-13 12:00", cy, S.RESOLVED),
    }
    deleted = ticket("2026-03-05 10:00", "2026-03-05 11:00", ana, S.RESOLVED, tags=[billing])
    deleted.deleted_at = at("2026-03-06 00:00")
    CommentFactory(ticket=t[4], is_internal=True, created_at=at("2026-03-02 09:30"))
    CommentFactory(ticket=t[4], is_internal=False, created_at=at("2026-03-02 11:00"))
    CommentFactory(ticket=t[4], is_internal=False, created_at=at("2026-03-02 15:00"))
    CommentFactory(ticket=t[7], is_internal=False, created_at=at("2026-03-09 12:00"))
    CommentFactory(ticket=t[6], is_internal=True, created_at=at("2026-03-04 13:00"))
    # What service.add_comment stamps (tested in tests/tickets/test_service.py).
    t[4].first_reply_at = at("2026-03-02 11:00")
    t[7].first_reply_at = at("2026-03-09 12:00")
    db.session.flush()
    return {"ana": ana, "ben": ben, "cy": cy, "billing": billing, "tickets": t}


def test_every_figure_matches_the_hand_computed_desk(desk):
    report = build_report(ReportScope(START, END))
    assert report.by_status == {S.OPEN: 1, S.IN_PROGRESS: 0, S.WAITING_ON_CUSTOMER: 0,
                                S.RESOLVED: 5, S.CLOSED: 1}  # fmt: skip
    assert report.by_priority == {P.URGENT: 1, P.HIGH: 1, P.MEDIUM: 4, P.LOW: 1}
    created = {d.day: n for d, n in report.created_per_day.items() if n}
    assert created == {2: 1, 3: 1, 4: 1, 9: 2, 10: 1, 11: 1}
    resolved = {d.day: n for d, n in report.resolved_per_day.items() if n}
    assert resolved == {2: 1, 3: 1, 4: 1, 10: 1, 11: 1, 12: 1, 13: 1}
    assert list(report.backlog_per_day.values()) == [2, 2, 2, 2, 2, 2, 2, 4, 4, 4, 3, 2, 2, 2]
    # Resolved in range: 264, 12, 24, 24, 48, 6, 96 hours.
    assert report.resolution.count == 7
    assert report.resolution.average == pytest.approx(474 / 7)
    assert report.resolution.median == pytest.approx(24)
    # First public reply: SD-4 after 2 h (the earlier note is internal), SD-7 after 4 h.
    assert report.first_reply.count == 2
    assert report.first_reply.average == pytest.approx(3)
    assert report.first_reply.median == pytest.approx(3)
    rows = {r.name: (r.open_now, r.resolved, r.median_hours) for r in report.assignees}
    assert rows == {"Ben": (1, 3, pytest.approx(24)), "Ana": (1, 2, pytest.approx(138)),
                    "Cy": (1, 2, pytest.approx(51))}  # fmt: skip
    assert [r.name for r in report.assignees] == ["Ben", "Ana", "Cy"]  # most resolved first
    assert report.top_tags == [("billing", 3)]


def test_top_tags_bounded_by_the_ids_created_in_range_count_the_same(desk):
    # Ids out of time order: the newest ticket in range has the highest id, an old one
    # (out of range, tagged) an id in between, and a tagged one in range was deleted.
    newest = TicketFactory(created_at=at("2026-03-14 10:00"), tags=[desk["billing"]])
    db.session.flush()
    scope = ReportScope(START, END)
    report = build_report(scope)
    id_range = count_created(Report(scope=scope))
    in_range = db.session.scalars(
        sa.select(Ticket.id).where(
            Ticket.deleted_at.is_(None),
            Ticket.created_at >= scope.start_at,
            Ticket.created_at < scope.end_at,
        )  # fmt: skip
    ).all()
    assert id_range == (min(in_range), max(in_range))
    assert max(in_range) == newest.id
    assert report.top_tags == top_tags(scope, id_range) == top_tags(scope) == [("billing", 4)]
    # A range without tickets has no bound, and no tags.
    empty = ReportScope(dt.date(2025, 1, 1), dt.date(2025, 1, 2))
    assert count_created(Report(scope=empty)) is None
    assert build_report(empty).top_tags == []


def test_the_weekly_ranking_matches_the_hand_computed_ranks(desk):
    ana, ben, cy = (desk[k].id for k in ("ana", "ben", "cy"))
    week1, week2 = dt.date(2026, 3, 2), dt.date(2026, 3, 9)
    assert weekly_ranks(ReportScope(START, END)) == [
        WeeklyRank(week1, ana, "Ana", 2, 1),
        WeeklyRank(week1, ben, "Ben", 1, 2),
        WeeklyRank(week2, ben, "Ben", 2, 1),  # a tie: both first (RANK, not ROW_NUMBER)
        WeeklyRank(week2, cy, "Cy", 2, 1),
    ]
    billing = ReportScope(START, END, tag_id=desk["billing"].id)
    assert weekly_ranks(billing) == [WeeklyRank(week1, ana, "Ana", 1, 1),
                                     WeeklyRank(week2, ben, "Ben", 1, 1)]  # fmt: skip
    assert weekly_ranks(ReportScope(START, END, assignee=str(cy))) == [
        WeeklyRank(week2, cy, "Cy", 2, 1)
    ]


def test_the_weekly_ranking_keeps_the_top_of_each_week_with_ties(desk, monkeypatch):
    from supportdesk.reports import queries

    monkeypatch.setattr(queries, "WEEKLY_TOP", 1)
    assert [(r.week.day, r.name, r.rank) for r in weekly_ranks(ReportScope(START, END))] == [
        (2, "Ana", 1), (9, "Ben", 1), (9, "Cy", 1),
    ]  # fmt: skip


def test_tag_and_assignee_narrow_every_figure(desk):
    billing = build_report(ReportScope(START, END, tag_id=desk["billing"].id))
    assert billing.created_total == 3
    assert billing.by_status[S.RESOLVED] == 2
    assert billing.top_tags == [("billing", 3)]
    ben = build_report(ReportScope(START, END, assignee=str(desk["ben"].id)))
    assert ben.created_total == 3  # SD-5, SD-7, SD-8
    assert [r.name for r in ben.assignees] == ["Ben"]
    nobody = build_report(ReportScope(START, END, assignee="none"))
    assert nobody.created_total == 0
    assert nobody.weekly_ranks == []


def test_is_overdue_is_the_same_rule_in_python_and_in_sql(app):
    now = utcnow()

    def ticket(hours_ago, priority, status=S.OPEN, **kw):
        return TicketFactory(created_at=now - dt.timedelta(hours=hours_ago), priority=priority,
                             status=status, **kw)  # fmt: skip

    cases = {
        ticket(5, P.URGENT): True,  # SLA 4 h
        ticket(3, P.URGENT): False,
        ticket(25, P.HIGH, S.WAITING_ON_CUSTOMER): True,  # 24 h
        ticket(23, P.HIGH): False,
        ticket(73, P.MEDIUM, S.IN_PROGRESS): True,  # 72 h
        ticket(169, P.LOW): True,  # 168 h
        ticket(1000, P.LOW, S.CLOSED): False,  # finished tickets are never overdue
        ticket(1000, P.URGENT, S.RESOLVED): False,
    }
    for t, expected in cases.items():
        assert t.is_overdue is expected, (t.priority, t.status)
    db.session.flush()
    in_sql = set(db.session.scalars(sa.select(Ticket.id).where(Ticket.is_overdue)))
    assert in_sql == {t.id for t, expected in cases.items() if expected}
    # Configurable: the SLA hours stamp due_at at creation and at every priority change; a
    # new setting applies to tickets created or re-prioritised from then on.
    app.config["SLA_HOURS"] = {**app.config["SLA_HOURS"], "urgent": 2}
    try:
        later = ticket(3, P.URGENT)
        db.session.flush()
        assert later.is_overdue is True  # 3 h old, due after 2 h
        assert len(set(db.session.scalars(sa.select(Ticket.id).where(Ticket.is_overdue)))) == 5
        was_high = next(t for t in cases if t.priority == P.HIGH and not cases[t])
        service.update_ticket(was_high, actor=was_high.creator, expected_version=None,
                              edit=TicketEdit(priority=P.URGENT))  # fmt: skip
        assert was_high.due_at == was_high.created_at + dt.timedelta(hours=2)
        assert was_high.is_overdue is True  # 23 h old, now urgent with a 2 h SLA
    finally:
        app.config["SLA_HOURS"] = {**app.config["SLA_HOURS"], "urgent": 4}


def test_overdue_counts_on_the_report(app):
    now = utcnow()
    TicketFactory(created_at=now - dt.timedelta(hours=5), priority=P.URGENT)
    TicketFactory(created_at=now - dt.timedelta(hours=200), priority=P.LOW)
    TicketFactory(created_at=now - dt.timedelta(hours=200), priority=P.LOW, deleted_at=now)
    report = build_report(ReportScope(now.date() - dt.timedelta(days=29), now.date()))
    assert report.overdue == {P.URGENT: 1, P.HIGH: 0, P.MEDIUM: 0, P.LOW: 1}


def test_the_page_shows_charts_with_their_numbers_in_a_fixed_number_of_queries(desk, agent_client):
    response = agent_client.get("/reports/", query_string={"date_from": "2026-03-02",
                                                           "date_to": "2026-03-15"})  # fmt: skip
    assert response.status_code == 200
    text = response.text
    assert (
        '<svg viewBox="0 0 720 220" role="img" aria-labelledby="backlog-title backlog-desc">'
        in text
    )
    assert '<title id="flow-title">Tickets created and resolved per day</title>' in text
    assert "<polyline" in text
    assert text.count('<rect class="series-') == 28  # 14 days x created/resolved
    assert '<td>2026-03-09</td><td class="num">4</td>' in text  # backlog table
    assert '<th scope="row">Ben</th><td class="num">1</td><td class="num">3</td>' in text
    assert "2 d 20 h" in text  # average resolution
    assert script_risks(text) == []
    # The session's user, filter options, counts by day x status x priority, resolutions
    # by day x assignee (also the weekly ranks), backlog at the start, 2 duration stats,
    # assignees (open, resolved, names), top tags, overdue: 12, whatever the size of the
    # desk; and the shared snapshot's lookup, storing it and dropping day-old ones: 15.
    assert response.headers["X-DB-Query-Count"] == "15"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"date_from": "yesterday"}, "From: Not a valid date value"),
        ({"date_from": "2026-03-15", "date_to": "2026-03-01"}, "the dates were swapped"),
        ({"date_from": "2020-01-01", "date_to": "2026-01-01"}, "at most 366 days"),
        ({"tag": "abc"}, "Tag: Invalid Choice"),
        ({"tag": "999999"}, "Tag: Not a valid choice"),
        ({"assignee": "me; DROP TABLE tickets"}, "Choose a person"),
    ],
)
def test_bad_report_filters_are_named_and_ignored(agent_client, args, message):
    response = agent_client.get("/reports/", query_string=args)
    assert response.status_code == 200
    assert message in response.text


def test_chart_scales_are_round_numbers():
    assert [charts.nice_max(v) for v in (0, 1, 3, 7, 10, 11, 180, 2500)] == [
        1, 1, 5, 10, 10, 20, 200, 5000
    ]  # fmt: skip
    chart = charts.line_chart({START: 0, END: 10})
    assert chart.points == "225.0,192.0 547.0,12.0"  # two days: centres of two halves


REPORT_ARGS = {"date_from": "2026-03-02", "date_to": "2026-03-15"}


def _figures(text):
    """The page without its freshness line (the part a shared report must repeat)."""
    import re

    figures = text.split("<h1>Reports</h1>", 1)[1].split("</main>", 1)[0]
    return re.sub(r'<p class="muted" id="report-freshness">.*?</p>', "", figures, flags=re.S)


def test_a_report_is_shared_until_its_maximum_age_then_computed_again(desk, agent_client, app):
    from supportdesk.reports.models import ReportSnapshot

    first = agent_client.get("/reports/", query_string=REPORT_ARGS)
    # Computed: the snapshot lookup, the 12 statements, storing it and dropping old ones.
    assert first.headers["X-DB-Query-Count"] == "15"
    assert "Figures computed just now" in first.text
    second = agent_client.get("/reports/", query_string=REPORT_ARGS)
    # Shared: the session's user, the filter options and the snapshot.
    assert second.headers["X-DB-Query-Count"] == "3"
    assert "Figures as of" in second.text
    assert _figures(second.text) == _figures(first.text)

    # A change after the snapshot shows once the snapshot is older than the maximum age.
    service.update_ticket(desk["tickets"][10], TicketEdit(status=S.RESOLVED), actor=desk["ana"])
    db.session.commit()
    assert _figures(agent_client.get("/reports/", query_string=REPORT_ARGS).text) == _figures(
        first.text
    )
    snapshot = db.session.scalars(sa.select(ReportSnapshot)).one()
    snapshot.computed_at -= dt.timedelta(seconds=app.config["REPORTS_MAX_AGE_S"] + 1)
    db.session.commit()
    third = agent_client.get("/reports/", query_string=REPORT_ARGS)
    assert third.headers["X-DB-Query-Count"] == "15"
    assert _figures(third.text) != _figures(first.text)


def test_recompute_now_stores_fresh_figures_and_returns_to_the_plain_url(desk, agent_client):
    from supportdesk.reports.models import ReportSnapshot

    agent_client.get("/reports/", query_string=REPORT_ARGS)
    before = db.session.scalars(sa.select(ReportSnapshot.computed_at)).one()
    page = agent_client.get("/reports/", query_string=REPORT_ARGS).text
    assert 'id="recompute"' in page
    response = agent_client.get("/reports/", query_string={**REPORT_ARGS, "recompute": "y"})
    assert response.status_code == 303
    assert "recompute" not in response.headers["Location"]
    assert "date_from=2026-03-02" in response.headers["Location"]
    db.session.expire_all()
    assert db.session.scalars(sa.select(ReportSnapshot.computed_at)).one() > before


def test_a_maximum_age_of_zero_always_computes_and_stores_nothing(desk, agent_client, app,
                                                                  monkeypatch):  # fmt: skip
    from supportdesk.reports.models import ReportSnapshot

    monkeypatch.setitem(app.config, "REPORTS_MAX_AGE_S", 0)
    for _ in range(2):
        response = agent_client.get("/reports/", query_string=REPORT_ARGS)
        assert response.headers["X-DB-Query-Count"] == "12"
        assert 'id="report-freshness"' not in response.text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportSnapshot)) == 0


@pytest.mark.parametrize(
    "narrow", [{}, {"tag": "billing"}, {"assignee": "ben"}, {"assignee": "none"}]
)
def test_stored_figures_are_the_computed_ones_in_the_same_order(desk, narrow):
    import json

    from supportdesk.reports.snapshots import from_payload, scope_key, to_payload

    tag_id = desk[narrow["tag"]].id if "tag" in narrow else None
    assignee = narrow.get("assignee", "")
    if assignee not in ("", "none"):
        assignee = str(desk[assignee].id)
    scope = ReportScope(START, END, tag_id=tag_id, assignee=assignee)
    report = build_report(scope)
    stored = from_payload(scope, json.loads(json.dumps(to_payload(report))))
    assert stored == report
    for name in ("by_status", "by_priority", "created_per_day", "backlog_per_day", "overdue"):
        assert list(getattr(stored, name)) == list(getattr(report, name))
    assert len({scope_key(scope), scope_key(ReportScope(START, END))}) == (2 if narrow else 1)


def test_who_wrote_after_the_figures_gets_them_recomputed(desk, login_as, app):
    import re

    from tests.conftest import PASSWORD

    writer = login_as(desk["cy"])  # (a login is a write too: it comes first here)
    other = app.test_client()
    assert other.post("/login", data={"email": desk["ana"].email, "password": PASSWORD}
                      ).status_code == 303  # fmt: skip
    first = other.get("/reports/", query_string=REPORT_ARGS)
    assert first.headers["X-DB-Query-Count"] == "15"  # computed (and stored)
    assert writer.get("/reports/", query_string=REPORT_ARGS).headers["X-DB-Query-Count"] == "3"
    ticket = desk["tickets"][10]  # Cy's open ticket: "open now" counts it
    page = writer.get(f"/tickets/{ticket.number}")
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page.text).group(1)
    resolved = writer.post(f"/tickets/{ticket.number}/update",
                           data={"status": "resolved", "assignee": desk["cy"].id,
                                 "version": version})  # fmt: skip
    assert resolved.status_code == 303
    mine = writer.get("/reports/", query_string=REPORT_ARGS)
    assert mine.headers["X-DB-Query-Count"] == "15"  # wrote after the figures: recomputed
    assert _figures(mine.text) != _figures(first.text)
    # The others share the new figures (computed after their own last write).
    shared = other.get("/reports/", query_string=REPORT_ARGS)
    assert shared.headers["X-DB-Query-Count"] == "3"
    assert _figures(shared.text) == _figures(mine.text)


def test_the_worker_keeps_the_default_figures_fresh_so_the_page_finds_them_shared(
    desk, agent_client, app
):
    from supportdesk import worker
    from supportdesk.reports.models import ReportSnapshot
    from supportdesk.reports.snapshots import default_scope, keep_default_warm, scope_key

    key = scope_key(default_scope())
    max_age = app.config["REPORTS_MAX_AGE_S"]
    assert "reports_warm" in {task.name for task in worker.tasks()}
    assert keep_default_warm(max_age_s=max_age) is True  # none yet: computed and stored
    assert keep_default_warm(max_age_s=max_age) is False  # fresh: one read, nothing more
    # The page's default view (no range asked for) is then shared at once.
    page = agent_client.get("/reports/")
    assert page.headers["X-DB-Query-Count"] == "3"
    assert "Figures as of" in page.text
    # Half its age: computed again before anyone waits for it.
    snapshot = db.session.get(ReportSnapshot, key)
    first = snapshot.computed_at
    snapshot.computed_at = first - dt.timedelta(seconds=max_age // 2 + 1)
    db.session.commit()
    assert worker.run_tasks() == ["reports_warm"]  # as the worker's pass runs it
    db.session.expire_all()
    assert db.session.get(ReportSnapshot, key).computed_at >= first
    assert keep_default_warm(max_age_s=0) is False  # sharing off: nothing to keep


def test_the_cron_worker_runs_the_periodic_tasks_too(app, runner):
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Ran: reports_warm." in result.output  # no figures yet: computed
    again = runner.invoke(args=["worker", "--once"])
    assert "Ran:" not in again.output  # fresh: nothing to do


def test_a_failing_periodic_task_is_logged_paused_and_does_not_stop_the_queues(
    app, monkeypatch, caplog
):
    from supportdesk import worker

    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("a bug")

    monkeypatch.setattr(worker, "_tasks", {"broken": worker.PeriodicTask("broken", broken)})
    monkeypatch.setattr(worker, "_paused_until", {})
    assert worker.run_tasks() == []  # a failure is not progress (no busy loop)
    assert "periodic task broken failed" in caplog.text
    assert worker.run_tasks() == []
    assert calls == [1]  # paused: not tried again on the next pass
    assert worker.run_once(name="test") == {}  # the deliveries go on


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_counts_and_weekly_ranks_equal_a_recount_of_a_random_desk(app, seed):
    """The summed figures (per day, per assignee, per week with RANK) against the rows."""
    rng = random.Random(seed)  # noqa: S311  # nosec B311 - a reproducible desk
    staff = [UserFactory(full_name=f"Agent {i}") for i in range(5)]
    tags = [TagFactory(name=f"t{seed}-{i}") for i in range(3)]
    for _ in range(80):
        created = at("2026-03-01 00:00") + dt.timedelta(hours=rng.randrange(24 * 24))
        resolved = created + dt.timedelta(hours=rng.randrange(1, 24 * 6))
        finished = rng.random() < 0.6
        ticket = TicketFactory(
            created_at=created, resolved_at=resolved if finished else None,
            status=rng.choice([S.RESOLVED, S.CLOSED]) if finished else S.OPEN,
            priority=rng.choice(list(P)), assignee=rng.choice([None, *staff]),
            tags=rng.sample(tags, rng.randrange(3)),
        )  # fmt: skip
        if rng.random() < 0.1:
            ticket.deleted_at = at("2026-03-20 00:00")
    db.session.flush()
    tickets = db.session.scalars(
        sa.select(Ticket).where(Ticket.deleted_at.is_(None)).options(selectinload(Ticket.tags))
    ).all()
    names = {u.id: u.full_name for u in staff}
    for scope in (ReportScope(START, END), ReportScope(START, END, tag_id=tags[0].id),
                  ReportScope(START, END, assignee=str(staff[0].id))):  # fmt: skip
        mine = [t for t in tickets
                if (scope.tag_id is None or scope.tag_id in {g.id for g in t.tags})
                and (not scope.assignee or str(t.assignee_id) == scope.assignee)]  # fmt: skip
        report = build_report(scope)
        created = Counter(t.created_at.date() for t in mine if START <= t.created_at.date() <= END)
        assert {d: n for d, n in report.created_per_day.items() if n} == created
        done = [t for t in mine if t.resolved_at and START <= t.resolved_at.date() <= END]
        assert {d: n for d, n in report.resolved_per_day.items() if n} == Counter(
            t.resolved_at.date() for t in done
        )
        assert {r.user_id: r.resolved for r in report.assignees if r.resolved} == Counter(
            t.assignee_id for t in done
        )
        weekly = Counter((t.resolved_at.date() - dt.timedelta(days=t.resolved_at.weekday()),
                          t.assignee_id) for t in done if t.assignee_id)  # fmt: skip
        expected = []
        for (week, user), n in weekly.items():
            rank = 1 + sum(1 for (w, _), m in weekly.items() if w == week and m > n)
            if rank <= WEEKLY_TOP:
                expected.append(WeeklyRank(week, user, names[user], n, rank))
        expected.sort(key=lambda r: (r.week, r.rank, r.name))
        assert report.weekly_ranks == expected == weekly_ranks(scope)
