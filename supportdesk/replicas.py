"""Read replicas: some read-only pages read from a PostgreSQL streaming replica.

``SUPPORTDESK_DATABASE_REPLICA_URLS`` lists them. Inside :func:`reading_replica` the
request's session sends its statements to a replica that answers and lags at most
``SUPPORTDESK_REPLICA_MAX_LAG_S``; otherwise, and for a user who wrote something in the
last ``SUPPORTDESK_REPLICA_STICKY_S`` seconds (read-your-writes), to the primary. A
replica's state is checked at most every 2 s per process; a replica that does not answer
is skipped for 5 s. Nothing here knows any feature: the pages decide what may be stale.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, current_app, g, has_request_context, session

from supportdesk import querystats
from supportdesk.db import READ_FROM
from supportdesk.metrics import (
    REPLICA_LAG,
    REPLICA_POOL_CHECKED_OUT,
    REPLICA_POOL_SIZE,
    REPLICA_UP,
    SCRAPE_REFRESHERS,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
CHECK_EVERY_S = 2.0
DOWN_FOR_S = 5.0
WROTE_KEY = "wrote_at"  # in the login session: when this user last wrote

# Replay lag: 0 while everything received is replayed, else the age of the last replayed
# transaction (a replica that receives nothing new is not behind).
LAG_SQL = sa.text(
    "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
    " THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)"
    " END"
)


@dataclass
class Replica:
    """One replica: its engine and what its last check found."""

    name: str
    engine: sa.Engine
    checked_at: float = 0.0
    up: bool = False
    lag_s: float | None = None


class Replicas:
    """The app's replicas (an app extension)."""

    def __init__(self, engines: list[sa.Engine]) -> None:
        self.replicas = [Replica(f"replica{i}", e) for i, e in enumerate(engines)]
        self.lock = threading.Lock()

    def check(self, replica: Replica, *, now: float) -> None:
        """Refresh one replica's state (at most every 2 s; 5 s after it failed)."""
        wait = CHECK_EVERY_S if replica.up or not replica.checked_at else DOWN_FOR_S
        if now - replica.checked_at < wait:
            return
        replica.checked_at = now
        try:
            with replica.engine.connect() as connection:
                in_recovery, lag = connection.execute(LAG_SQL).one()
            replica.up, replica.lag_s = True, float(lag) if in_recovery else 0.0
        except sa.exc.DBAPIError as exc:
            if replica.up or replica.lag_s is None:
                log.warning("read replica %s does not answer: %s", replica.name,
                            type(exc.orig).__name__)  # fmt: skip
            replica.up, replica.lag_s = False, None
        REPLICA_UP.labels(replica.name).set(1 if replica.up else 0)
        REPLICA_LAG.labels(replica.name).set(replica.lag_s if replica.lag_s is not None else -1)

    def choose(self, max_lag_s: float) -> Replica | None:
        """Return the first replica that answers and is not too far behind."""
        now = time.monotonic()
        with self.lock:
            for replica in self.replicas:
                self.check(replica, now=now)
                if replica.up and replica.lag_s is not None and replica.lag_s <= max_lag_s:
                    return replica
        return None

    def check_all(self) -> None:
        """Refresh every replica's state (when due)."""
        now = time.monotonic()
        with self.lock:
            for replica in self.replicas:
                self.check(replica, now=now)

    def status(self) -> list[dict[str, Any]]:
        """Each replica's state and pool, for /health/database and /metrics."""
        self.check_all()
        return [{"name": r.name, "up": r.up, "lag_seconds": r.lag_s,
                 "pool": {"size": r.engine.pool.size(),  # type: ignore[attr-defined]
                          "checked_out": r.engine.pool.checkedout()}}  # type: ignore[attr-defined]
                for r in self.replicas]  # fmt: skip


def init_app(app: Flask, engine_options: dict[str, Any]) -> None:
    """Create the replicas' engines (no connection is made until one is used)."""
    urls = app.config["DATABASE_REPLICA_URLS"]
    options = dict(engine_options)
    options["connect_args"] = dict(options.get("connect_args", {}), connect_timeout=2)
    engines = [sa.create_engine(url, **options) for url in urls]
    for number, engine in enumerate(engines):  # their statements count in the budgets too
        querystats.install(engine, slow_ms=app.config["SLOW_QUERY_MS"])
        _watch_pool(f"replica{number}", engine.pool)
    app.extensions["supportdesk_replicas"] = Replicas(engines)
    if engines and refresh_gauges not in SCRAPE_REFRESHERS:
        SCRAPE_REFRESHERS.append(refresh_gauges)


def refresh_gauges() -> None:
    """Check every replica when /metrics is scraped (sets the lag and up gauges)."""
    replicas: Replicas | None = current_app.extensions.get("supportdesk_replicas")
    if replicas is not None:
        replicas.check_all()


def _watch_pool(name: str, pool: Any) -> None:
    """Keep the replica's pool gauges current (as observability does for the primary's)."""

    def update(*args: Any) -> None:
        REPLICA_POOL_SIZE.labels(name).set(pool.size())
        REPLICA_POOL_CHECKED_OUT.labels(name).set(pool.checkedout())

    for event_name in ("checkout", "checkin", "connect", "close", "invalidate"):
        sa.event.listen(pool, event_name, update)


def note_write() -> None:
    """Remember that this user just wrote: their reads stay on the primary for a while."""
    session[WROTE_KEY] = time.time()


def last_write_at() -> float:
    """When this user's last successful form POST was (epoch seconds; 0 if never)."""
    return float(session.get(WROTE_KEY, 0)) if has_request_context() else 0.0


def wrote_recently() -> bool:
    """Whether this user wrote within ``REPLICA_STICKY_S`` (their reads must show it)."""
    return time.time() - last_write_at() < current_app.config["REPLICA_STICKY_S"]


def from_replica(rows: Iterable[T]) -> Iterator[T]:
    """Iterate a lazy query (a streamed export) with its reads on a replica, if one may."""
    with reading_replica():
        yield from rows


@contextmanager
def reading_replica() -> Iterator[str]:
    """Send the session's reads inside to a replica when one may serve them.

    Yields where the reads go: ``"replica0"``…, or ``"primary"``.
    """
    replicas: Replicas | None = current_app.extensions.get("supportdesk_replicas")
    config = current_app.config
    chosen = (
        None if not replicas or wrote_recently() else replicas.choose(config["REPLICA_MAX_LAG_S"])
    )
    if chosen is None:
        yield "primary"
        return
    token = READ_FROM.set(chosen.engine)
    if has_request_context():
        g.read_from = chosen.name
    try:
        yield chosen.name
    finally:
        READ_FROM.reset(token)
