"""Computed reports shared for a few minutes (``SUPPORTDESK_REPORTS_MAX_AGE_S``).

A report at 1M tickets costs about half a second of SQL; four managers opening the page
at once used to cost four of them, queued on two cores. The first to ask computes it
(exactly, by :func:`build_report`) and stores its figures under the scope's key; whoever
asks for the same scope within the maximum age gets those figures, and the page says
when they were computed, with a link that recomputes them at once.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from supportdesk import worker
from supportdesk.db import db, unit_of_work, utcnow
from supportdesk.replicas import reading_replica
from supportdesk.reports.models import ReportSnapshot
from supportdesk.reports.queries import (
    AssigneeRow,
    DurationStats,
    Report,
    ReportScope,
    WeeklyRank,
    build_report,
)
from supportdesk.tickets.models import TicketPriority, TicketStatus

KEEP = dt.timedelta(days=1)  # snapshots older than this are deleted when one is stored
DEFAULT_DAYS = 30  # the page's range when none is asked for: the last 30 days, today too
# The worker recomputes the default figures once they are this share of the maximum age
# old, so whoever opens the page finds them shared instead of waiting for them.
WARM_AT = 0.5


def default_scope(today: dt.date | None = None) -> ReportScope:
    """Return what the page shows when no range, tag or assignee is asked for."""
    end = today or utcnow().date()
    return ReportScope(start=end - dt.timedelta(days=DEFAULT_DAYS - 1), end=end)


def keep_default_warm(*, max_age_s: int) -> bool:
    """Recompute the default figures when they are missing or half their age; return if so.

    Run by the worker on every pass (a task, not a request): one primary-key read when
    nothing is due. Costs one report per ``max_age_s / 2`` (at 1M tickets ~0.6 s of SQL
    every 150 s with the default 300 s); off with sharing (``max_age_s`` 0).
    """
    if max_age_s <= 0:
        return False
    scope = default_scope()
    computed_at = db.session.scalar(
        sa.select(ReportSnapshot.computed_at).where(ReportSnapshot.scope_key == scope_key(scope))
    )
    if computed_at is not None and computed_at > utcnow() - dt.timedelta(
        seconds=max_age_s * WARM_AT
    ):
        return False
    report_for(scope, max_age_s=max_age_s, recompute=True)
    return True


@dataclass(frozen=True)
class SharedReport:
    """A report with when it was computed, how long that took, and whether it was shared."""

    report: Report
    computed_at: dt.datetime
    compute_ms: int
    shared: bool


def scope_key(scope: ReportScope) -> str:
    """Return the snapshot key of a scope: its dates, tag and assignee."""
    tag = "" if scope.tag_id is None else str(scope.tag_id)
    return f"{scope.start.isoformat()}|{scope.end.isoformat()}|tag={tag}|assignee={scope.assignee}"


def report_for(scope: ReportScope, *, max_age_s: int, recompute: bool = False,
               not_before: dt.datetime | None = None) -> SharedReport:  # fmt: skip
    """Return the scope's figures: shared if computed within ``max_age_s``, else computed.

    ``max_age_s`` 0 always computes (and stores nothing); ``recompute`` computes and
    replaces what is stored; figures computed before ``not_before`` (the asker's last
    write) are not shared with them.
    """
    key = scope_key(scope)
    if max_age_s > 0 and not recompute:
        row = db.session.get(ReportSnapshot, key)
        oldest = utcnow() - dt.timedelta(seconds=max_age_s)
        if not_before is not None:
            oldest = max(oldest, not_before)
        if row is not None and row.computed_at >= oldest:
            try:
                report = from_payload(scope, row.payload)
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # stored by another version of the desk (an upgrade): computed anew
            else:
                return SharedReport(report, row.computed_at, row.compute_ms, shared=True)
    computed_at = utcnow()
    started = time.perf_counter()
    with reading_replica():  # figures may lag a replica by seconds; nobody just wrote them
        report = build_report(scope)
    compute_ms = round((time.perf_counter() - started) * 1000)
    if max_age_s > 0:
        _store(key, report, computed_at, compute_ms)
    return SharedReport(report, computed_at, compute_ms, shared=False)


def _store(key: str, report: Report, computed_at: dt.datetime, compute_ms: int) -> None:
    """Insert or replace the scope's snapshot, and drop day-old ones (own transaction)."""
    values = {"scope_key": key, "computed_at": computed_at, "compute_ms": compute_ms,
              "payload": to_payload(report)}  # fmt: skip
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ReportSnapshot).values(**values)
    # Two managers computing the same scope at once: the later one's figures win.
    stmt = stmt.on_conflict_do_update(
        index_elements=[ReportSnapshot.scope_key],
        set_={name: stmt.excluded[name] for name in ("computed_at", "compute_ms", "payload")},
    )
    with unit_of_work(expire=False):
        db.session.execute(stmt)
        db.session.execute(
            sa.delete(ReportSnapshot).where(ReportSnapshot.computed_at < computed_at - KEEP)
        )


def to_payload(report: Report) -> dict[str, Any]:
    """Return the report's figures as JSON-ready values (the scope is the key)."""
    return {
        "by_status": {s.value: n for s, n in report.by_status.items()},
        "by_priority": {p.value: n for p, n in report.by_priority.items()},
        "created_per_day": _days(report.created_per_day),
        "resolved_per_day": _days(report.resolved_per_day),
        "backlog_per_day": _days(report.backlog_per_day),
        "resolution": asdict(report.resolution),
        "first_reply": asdict(report.first_reply),
        "assignees": [asdict(row) for row in report.assignees],
        "top_tags": [[name, n] for name, n in report.top_tags],
        "overdue": {p.value: n for p, n in report.overdue.items()},
        "weekly_ranks": [
            dict(asdict(rank), week=rank.week.isoformat()) for rank in report.weekly_ranks
        ],  # fmt: skip
    }


def from_payload(scope: ReportScope, payload: dict[str, Any]) -> Report:
    """Rebuild the :class:`Report` that :func:`to_payload` stored, in the page's orders."""

    def per_day(name: str) -> dict[dt.date, int]:
        stored = payload[name]
        return {day: int(stored.get(day.isoformat(), 0)) for day in scope.days}

    by_priority, overdue = payload["by_priority"], payload["overdue"]
    return Report(
        scope=scope,
        by_status={s: int(payload["by_status"].get(s.value, 0)) for s in TicketStatus},
        by_priority={p: int(by_priority.get(p.value, 0)) for p in reversed(TicketPriority)},
        created_per_day=per_day("created_per_day"),
        resolved_per_day=per_day("resolved_per_day"),
        backlog_per_day=per_day("backlog_per_day"),
        resolution=DurationStats(**payload["resolution"]),
        first_reply=DurationStats(**payload["first_reply"]),
        assignees=[AssigneeRow(**row) for row in payload["assignees"]],
        top_tags=[(str(name), int(n)) for name, n in payload["top_tags"]],
        overdue={p: int(overdue.get(p.value, 0)) for p in reversed(TicketPriority)},
        weekly_ranks=[
            WeeklyRank(**dict(rank, week=dt.date.fromisoformat(rank["week"])))
            for rank in payload["weekly_ranks"]
        ],  # fmt: skip
    )


def _days(values: dict[dt.date, int]) -> dict[str, int]:
    return {day.isoformat(): n for day, n in values.items()}


def init_app(app: Flask) -> None:
    """Give the worker the task that keeps the default figures fresh (idempotent)."""
    worker.register_task(worker.PeriodicTask(
        name="reports_warm",
        run=lambda: keep_default_warm(max_age_s=int(current_app.config["REPORTS_MAX_AGE_S"])),
    ))  # fmt: skip
