"""Shared reports store and give back exactly the figures that were computed."""

import datetime as dt
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from supportdesk.reports.queries import (
    AssigneeRow,
    DurationStats,
    Report,
    ReportScope,
    WeeklyRank,
)
from supportdesk.reports.snapshots import from_payload, scope_key, to_payload
from supportdesk.tickets.models import TicketPriority, TicketStatus

counts = st.integers(min_value=0, max_value=10**9)
hours = st.none() | st.floats(min_value=0, max_value=1e7, allow_nan=False)
names = st.text(min_size=1, max_size=40)


@st.composite
def durations(draw):
    return DurationStats(draw(counts), draw(hours), draw(hours))


@st.composite
def reports(draw):
    start = draw(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2099, 1, 1)))
    end = start + dt.timedelta(days=draw(st.integers(0, 40)))
    scope = ReportScope(start, end, tag_id=draw(st.none() | st.integers(1, 2**31 - 1)),
                        assignee=draw(st.sampled_from(["", "none", "7", "123456789"])))  # fmt: skip
    per_day = {day: draw(counts) for day in scope.days}
    return Report(
        scope=scope,
        by_status={s: draw(counts) for s in TicketStatus},
        by_priority={p: draw(counts) for p in reversed(TicketPriority)},
        created_per_day=per_day,
        resolved_per_day={day: draw(counts) for day in scope.days},
        backlog_per_day={day: draw(counts) for day in scope.days},
        resolution=draw(durations()),
        first_reply=draw(durations()),
        assignees=draw(
            st.lists(
                st.builds(
                    AssigneeRow, st.none() | st.integers(1, 10**6), names, counts, counts, hours
                ),
                max_size=6,
            )
        ),  # fmt: skip
        top_tags=draw(st.lists(st.tuples(names, counts), max_size=10)),
        overdue={p: draw(counts) for p in reversed(TicketPriority)},
        weekly_ranks=draw(
            st.lists(
                st.builds(
                    WeeklyRank, st.dates(), st.integers(1, 10**6), names, counts, st.integers(1, 50)
                ),
                max_size=8,
            )
        ),  # fmt: skip
    )


@settings(max_examples=200, deadline=None)
@given(reports())
def test_any_report_comes_back_from_its_stored_json_unchanged_and_in_order(report):
    stored = json.loads(json.dumps(to_payload(report)))  # what the JSON column keeps
    back = from_payload(report.scope, stored)
    assert back == report
    for name in ("by_status", "by_priority", "created_per_day", "resolved_per_day",
                 "backlog_per_day", "overdue"):  # fmt: skip
        assert list(getattr(back, name)) == list(getattr(report, name))


@given(reports(), reports())
def test_different_scopes_never_share_a_key(one, other):
    assert (scope_key(one.scope) == scope_key(other.scope)) == (one.scope == other.scope)
    assert len(scope_key(one.scope)) <= 120  # the column's width


def test_figures_stored_by_another_version_are_computed_anew(app):
    from supportdesk.db import unit_of_work, utcnow
    from supportdesk.extensions import db
    from supportdesk.reports.models import ReportSnapshot
    from supportdesk.reports.snapshots import report_for

    scope = ReportScope(dt.date(2026, 3, 2), dt.date(2026, 3, 15))
    with unit_of_work():
        old = {"by_status": {"open": "x"}}  # not what this version stores
        db.session.add(ReportSnapshot(scope_key=scope_key(scope), computed_at=utcnow(),
                                      compute_ms=1, payload=old))  # fmt: skip
    shared = report_for(scope, max_age_s=300)
    assert shared.shared is False  # an upgrade changed the figures' shape: not a 500
    assert sum(shared.report.by_status.values()) == 0
    assert db.session.get(ReportSnapshot, scope_key(scope)).payload == to_payload(shared.report)
