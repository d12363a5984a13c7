"""The figures of the reports page: each a few set-based statements, bound parameters only.

Every figure honours the same scope: live tickets, optionally one tag and one assignee.
"In range" means created (or, for resolutions, resolved) on a day between ``start`` and
``end`` inclusive, in UTC. Medians use ``percentile_cont`` on PostgreSQL; SQLite has no
percentile function, so there the durations are fetched and the median taken in Python
(SQLite is the small, single-machine backend).
"""

from __future__ import annotations

import bisect
import datetime as dt
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from supportdesk.db import SQLColumn
from supportdesk.extensions import db
from supportdesk.tags.models import Tag, ticket_tags
from supportdesk.tickets.models import (
    OPEN_STATUSES,
    Ticket,
    TicketPriority,
    TicketStatus,
)
from supportdesk.users.models import User

TOP_TAGS = 10
WEEKLY_TOP = 5


@dataclass(frozen=True)
class ReportScope:
    """What the page reports on: a date range (inclusive) and optional filters."""

    start: dt.date
    end: dt.date
    tag_id: int | None = None
    assignee: str = ""  # "", "none" or a user id

    @property
    def start_at(self) -> dt.datetime:
        """The first instant of the range (UTC)."""
        return dt.datetime.combine(self.start, dt.time.min, tzinfo=dt.UTC)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the range (UTC)."""
        return dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)

    @property
    def days(self) -> list[dt.date]:
        """Every day of the range."""
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def scope_conditions(scope: ReportScope) -> list[sa.ColumnElement[bool]]:
    """Live tickets of the scope's tag and assignee (no date condition)."""
    conditions: list[sa.ColumnElement[bool]] = [Ticket.deleted_at.is_(None)]
    if scope.tag_id is not None:
        probe = (
            sa.select(sa.literal(1))
            .where(ticket_tags.c.ticket_id == Ticket.id, ticket_tags.c.tag_id == scope.tag_id)
            .correlate(Ticket)
            .scalar_subquery()
        )
        conditions.append(probe.is_not(None))
    if scope.assignee == "none":
        conditions.append(Ticket.assignee_id.is_(None))
    elif scope.assignee:
        conditions.append(Ticket.assignee_id == int(scope.assignee))
    return conditions


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def _day(column: SQLColumn) -> sa.ColumnElement[Any]:
    if _is_postgresql():
        return sa.func.date(sa.func.timezone("UTC", column))
    return sa.func.date(column)


def _hours(later: SQLColumn, earlier: SQLColumn) -> sa.ColumnElement[Any]:
    if _is_postgresql():
        # date_part is double precision; EXTRACT is numeric since PostgreSQL 14, and
        # sorting numerics for the medians took 2.5 times as long (68 vs 28 ms for the
        # 49,000 resolutions of 30 days at 1M tickets).
        return sa.func.date_part("epoch", later - earlier) / 3600.0
    return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 24.0


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


@dataclass
class DurationStats:
    """Average and median of a set of durations, in hours."""

    count: int = 0
    average: float | None = None
    median: float | None = None


def _duration_stats(hours: sa.ColumnElement[Any], *where: Any, from_: Any = None) -> DurationStats:
    """Return count/average/median of ``hours`` over the rows ``where`` selects."""
    if _is_postgresql():
        stmt = sa.select(
            sa.func.count(hours),
            sa.func.avg(hours),
            sa.func.percentile_cont(0.5).within_group(hours),
        ).where(*where)
        if from_ is not None:
            stmt = stmt.select_from(from_)
        count, average, median = db.session.execute(stmt).one()
        return DurationStats(count, _float(average), _float(median))
    stmt = sa.select(hours).where(*where)
    if from_ is not None:
        stmt = stmt.select_from(from_)
    values = [float(v) for v in db.session.scalars(stmt) if v is not None]
    if not values:
        return DurationStats()
    return DurationStats(len(values), statistics.fmean(values), statistics.median(values))


def _pairs(result: Any) -> dict[Any, Any]:
    return {key: value for key, value in result}


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class Report:
    """Everything the reports page shows."""

    scope: ReportScope
    by_status: dict[TicketStatus, int] = field(default_factory=dict)
    by_priority: dict[TicketPriority, int] = field(default_factory=dict)
    created_per_day: dict[dt.date, int] = field(default_factory=dict)
    resolved_per_day: dict[dt.date, int] = field(default_factory=dict)
    backlog_per_day: dict[dt.date, int] = field(default_factory=dict)
    resolution: DurationStats = field(default_factory=DurationStats)
    first_reply: DurationStats = field(default_factory=DurationStats)
    assignees: list[AssigneeRow] = field(default_factory=list)
    top_tags: list[tuple[str, int]] = field(default_factory=list)
    overdue: dict[TicketPriority, int] = field(default_factory=dict)
    weekly_ranks: list[WeeklyRank] = field(default_factory=list)

    @property
    def created_total(self) -> int:
        """Tickets created in the range."""
        return sum(self.by_status.values())


@dataclass
class AssigneeRow:
    """One line of the per-assignee table."""

    user_id: int | None
    name: str
    open_now: int
    resolved: int
    median_hours: float | None


@dataclass
class WeeklyRank:
    """An assignee's place among the staff by tickets resolved in one week."""

    week: dt.date
    user_id: int
    name: str
    resolved: int
    rank: int


def build_report(scope: ReportScope) -> Report:
    """Compute every figure of the page for ``scope``."""
    report = Report(scope=scope)
    id_range = count_created(report)
    resolved = resolutions(scope)
    _per_day(report, resolved)
    report.resolution = resolution_stats(scope)
    report.first_reply = first_reply_stats(scope)
    report.assignees = assignee_rows(scope)
    report.top_tags = top_tags(scope, id_range)
    report.overdue = overdue_by_priority(scope)
    names = {row.user_id: row.name for row in report.assignees}
    report.weekly_ranks = weekly_ranks(scope, resolved, names)
    return report


def count_created(report: Report) -> tuple[int, int] | None:
    """Fill the counts of the tickets created in range: by status, priority and day.

    Return the least and greatest id of those tickets (None: there are none), which
    bound :func:`top_tags`. One statement for all of it: on PostgreSQL, without a tag
    filter, it reads ``ix_tickets_live_created_at`` alone (it carries status and
    priority).
    """
    scope = report.scope
    day = _day(Ticket.created_at)
    stmt = (
        sa.select(
            day,
            Ticket.status,
            Ticket.priority,
            sa.func.count(),
            sa.func.min(Ticket.id),
            sa.func.max(Ticket.id),
        )  # fmt: skip
        .where(
            *scope_conditions(scope),
            Ticket.created_at >= scope.start_at,
            Ticket.created_at < scope.end_at,
        )  # fmt: skip
        .group_by(day, Ticket.status, Ticket.priority)
    )
    by_status: Counter[TicketStatus] = Counter()
    by_priority: Counter[TicketPriority] = Counter()
    by_day: Counter[dt.date] = Counter()
    lows, highs = [], []
    for created_on, status, priority, n, low, high in db.session.execute(stmt):
        by_status[status] += n
        by_priority[priority] += n
        by_day[_as_date(created_on)] += n
        lows.append(low)
        highs.append(high)
    report.by_status = {s: by_status[s] for s in TicketStatus}
    report.by_priority = {p: by_priority[p] for p in reversed(TicketPriority)}
    report.created_per_day = {d: by_day[d] for d in scope.days}
    return (min(lows), max(highs)) if lows else None


# Tickets resolved in range per (day, assignee): what resolved per day, the assignees'
# resolution counts and the weekly ranks are sums of.
Resolutions = dict[tuple[dt.date, int | None], int]


def resolutions(scope: ReportScope) -> Resolutions:
    """Return how many of the scope's tickets each assignee resolved on each day in range.

    One statement (on PostgreSQL from ``ix_tickets_live_resolved`` alone); the figures
    built from it were three scans of the same range before.
    """
    day = _day(Ticket.resolved_at)
    stmt = (
        sa.select(day, Ticket.assignee_id, sa.func.count())
        .where(
            *scope_conditions(scope),
            Ticket.resolved_at >= scope.start_at,
            Ticket.resolved_at < scope.end_at,
        )  # fmt: skip
        .group_by(day, Ticket.assignee_id)
    )
    return {(_as_date(d), assignee): int(n) for d, assignee, n in db.session.execute(stmt)}


def _per_day(report: Report, resolved: Resolutions) -> None:
    """Fill resolved per day, and the open backlog at the end of each day.

    The backlog counts a ticket as open from its creation until its ``resolved_at``; a
    ticket reopened later has no ``resolved_at`` and so counts as open throughout.
    Created per day comes from :func:`count_created`.
    """
    scope = report.scope
    conditions = scope_conditions(scope)
    # Open when the range starts: created before it and not resolved before it. Two
    # index-friendly counts (still unresolved; resolved since) instead of one OR.
    before = [*conditions, Ticket.created_at < scope.start_at]
    still_open = (
        sa.select(sa.func.count())
        .where(*before, Ticket.status.in_(OPEN_STATUSES))  # (open implies no resolved_at)
        .scalar_subquery()
    )
    resolved_since = (
        sa.select(sa.func.count())
        .where(*before, Ticket.resolved_at >= scope.start_at)
        .scalar_subquery()
    )
    backlog = db.session.execute(sa.select(still_open, resolved_since)).one()
    open_now = int(backlog[0]) + int(backlog[1])
    resolved_by_day: Counter[dt.date] = Counter()
    for (day, _assignee), n in resolved.items():
        resolved_by_day[day] += n
    for day in scope.days:
        report.resolved_per_day[day] = resolved_by_day.get(day, 0)
        open_now += report.created_per_day[day] - report.resolved_per_day[day]
        report.backlog_per_day[day] = open_now


def resolution_stats(scope: ReportScope) -> DurationStats:
    """Average and median hours from creation to resolution, for tickets resolved in range."""
    return _duration_stats(
        _hours(Ticket.resolved_at, Ticket.created_at),
        *scope_conditions(scope),
        Ticket.resolved_at >= scope.start_at,
        Ticket.resolved_at < scope.end_at,
    )


def first_reply_stats(scope: ReportScope) -> DurationStats:
    """Hours from creation to the first public reply, for tickets created in range.

    Reads ``tickets.first_reply_at`` (stamped when the reply is written): looking the
    first reply up among the comments took 0.3-0.8 s at 1M tickets.
    """
    return _duration_stats(
        _hours(Ticket.first_reply_at, Ticket.created_at),
        *scope_conditions(scope),
        Ticket.created_at >= scope.start_at,
        Ticket.created_at < scope.end_at,
        Ticket.first_reply_at.is_not(None),
    )


def assignee_rows(scope: ReportScope) -> list[AssigneeRow]:
    """Per assignee: open now, resolved in range, median resolution hours (in range)."""
    conditions = scope_conditions(scope)
    open_now = _pairs(
        db.session.execute(
            sa.select(Ticket.assignee_id, sa.func.count())
            .where(*conditions, Ticket.status.in_(OPEN_STATUSES))
            .group_by(Ticket.assignee_id)
        )
    )
    hours = _hours(Ticket.resolved_at, Ticket.created_at)
    in_range = [
        *conditions,
        Ticket.resolved_at >= scope.start_at,
        Ticket.resolved_at < scope.end_at,
    ]
    resolved: dict[int | None, tuple[int, float | None]] = {}
    if _is_postgresql():
        stmt = (
            sa.select(
                Ticket.assignee_id,
                sa.func.count(),
                sa.func.percentile_cont(0.5).within_group(hours),
            )  # fmt: skip
            .where(*in_range)
            .group_by(Ticket.assignee_id)
        )
        for assignee_id, n, median in db.session.execute(stmt):
            resolved[assignee_id] = (int(n), _float(median))
    else:
        durations: dict[int | None, list[float]] = {}
        for assignee_id, value in db.session.execute(
            sa.select(Ticket.assignee_id, hours).where(*in_range)
        ):
            durations.setdefault(assignee_id, []).append(float(value))
        resolved = {k: (len(v), statistics.median(v)) for k, v in durations.items()}
    ids = set(open_now) | set(resolved)
    names = _pairs(
        db.session.execute(sa.select(User.id, User.full_name).where(User.id.in_(ids - {None})))
    )
    rows = [
        AssigneeRow(
            user_id=i,
            name=names.get(i, "Unassigned") if i is not None else "Unassigned",
            open_now=int(open_now.get(i, 0)),
            resolved=resolved.get(i, (0, None))[0],
            median_hours=resolved.get(i, (0, None))[1],
        )
        for i in ids
    ]
    rows.sort(key=lambda r: (r.user_id is None, -r.resolved, -r.open_now, r.name.lower()))
    return rows


def top_tags(scope: ReportScope, id_range: tuple[int, int] | None = None) -> list[tuple[str, int]]:
    """Return the tags on most tickets created in range (at most TOP_TAGS).

    ``id_range``, the least and greatest id of the scope's tickets created in range (as
    :func:`build_report` reads them with the counts), bounds the scan of the tag links:
    ids follow creation time on a desk, so a month's links are a narrow slice of the
    link table's primary key instead of all of it (every link was read at 1M tickets:
    2M rows, 260-390 ms). The bound is implied by the join, so the counts are the same.
    """
    n = sa.func.count().label("n")
    bounds = [] if id_range is None else [ticket_tags.c.ticket_id.between(*id_range)]
    stmt = (
        sa.select(Tag.name, n)
        .select_from(ticket_tags.join(Tag, Tag.id == ticket_tags.c.tag_id))
        .join(Ticket, Ticket.id == ticket_tags.c.ticket_id)
        .where(
            *scope_conditions(scope),
            Ticket.created_at >= scope.start_at,
            Ticket.created_at < scope.end_at,
            *bounds,
        )  # fmt: skip
        .group_by(Tag.name)
        .order_by(n.desc(), Tag.name)
        .limit(TOP_TAGS)
    )
    return [(name, int(count)) for name, count in db.session.execute(stmt)]


def overdue_by_priority(scope: ReportScope) -> dict[TicketPriority, int]:
    """Open tickets past their priority's SLA, now (any creation date)."""
    stmt = (
        sa.select(Ticket.priority, sa.func.count())
        .where(*scope_conditions(scope), Ticket.is_overdue)
        .group_by(Ticket.priority)
    )
    counts = _pairs(db.session.execute(stmt))
    return {p: int(counts.get(p, 0)) for p in reversed(TicketPriority)}


def weekly_ranks(scope: ReportScope, resolved: Resolutions | None = None,
                 names: dict[int | None, str] | None = None) -> list[WeeklyRank]:  # fmt: skip
    """Return the best WEEKLY_TOP assignees per ISO week (Monday first) by tickets resolved.

    Ties share a rank and the next rank skips (SQL's RANK): 2, 2 resolved are both first,
    the next is third. Summed from :func:`resolutions` (read for the page anyway), named
    from ``names`` (the assignee table's), else each is read here.
    """
    if scope.assignee == "none":
        return []  # nobody to rank
    if resolved is None:
        resolved = resolutions(scope)
    weekly: Counter[tuple[dt.date, int]] = Counter()
    for (day, assignee), n in resolved.items():
        if assignee is not None:
            weekly[(day - dt.timedelta(days=day.weekday()), assignee)] += n
    if names is None:
        ids = {assignee for _week, assignee in weekly}
        names = _pairs(db.session.execute(sa.select(User.id, User.full_name)
                                          .where(User.id.in_(ids))))  # fmt: skip
    by_week: dict[dt.date, list[tuple[int, int]]] = {}
    for (week, assignee), n in weekly.items():
        by_week.setdefault(week, []).append((assignee, n))
    ranks: list[WeeklyRank] = []
    for week in sorted(by_week):
        counts = sorted(n for _assignee, n in by_week[week])
        for assignee, n in by_week[week]:
            rank = 1 + len(counts) - bisect.bisect_right(counts, n)  # 1 + how many did more
            if rank <= WEEKLY_TOP:
                ranks.append(WeeklyRank(week, assignee, names.get(assignee, ""), n, rank))
    ranks.sort(key=lambda r: (r.week, r.rank, r.name))
    return ranks
