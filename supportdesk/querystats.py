"""Count and time the SQL statements of each request (``X-DB-Query-*`` headers)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app, g, has_app_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

from supportdesk.metrics import SLOW_STATEMENTS

log = logging.getLogger(__name__)

# Transaction control is bookkeeping, not a query: BEGIN on SQLite, and the savepoints the
# test suite wraps around every test. Leaving them out keeps budgets equal everywhere.
_CONTROL_PREFIXES = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT")


@dataclass
class QueryStats:
    """Statements counted in the current app context."""

    count: int = 0
    seconds: float = 0.0


def current() -> QueryStats:
    """Return the statistics of the current app context, creating them if needed."""
    stats: QueryStats | None = g.get("_query_stats")
    if stats is None:
        stats = g._query_stats = QueryStats()
    return stats


def reset() -> QueryStats:
    """Start counting afresh (called at the start of each request)."""
    g._query_stats = QueryStats()
    return g._query_stats


def install(engine: Engine, *, slow_ms: int) -> None:
    """Listen to ``engine`` and record every statement's count and duration.

    A statement over the app's ``SLOW_QUERY_MS`` (``slow_ms`` outside an app context) is
    logged and counted.
    """

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info.setdefault("_query_start", []).append(time.perf_counter())

    @event.listens_for(engine, "handle_error")
    def _failed(context: Any) -> None:
        # A failed statement never reaches after_cursor_execute: drop its start time.
        starts = context.connection.info.get("_query_start") if context.connection else None
        if starts:
            starts.pop()

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        starts = conn.info.get("_query_start")
        if not starts:
            return  # began before these listeners were installed
        elapsed = time.perf_counter() - starts.pop()
        if statement.lstrip()[:9].upper().startswith(_CONTROL_PREFIXES):
            return
        if has_app_context():
            stats = current()
            stats.count += 1
            stats.seconds += elapsed
        limit = current_app.config["SLOW_QUERY_MS"] if has_app_context() else slow_ms
        if elapsed * 1000 >= limit:
            SLOW_STATEMENTS.inc()
            # The statement text only, never its parameters: they may hold personal data.
            log.warning("slow query %.1f ms: %s", elapsed * 1000, " ".join(statement.split())[:300])
