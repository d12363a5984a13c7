"""The Prometheus metrics the app exports, defined once (plumbing: imports no feature).

``observability`` serves and updates them; ``querystats`` and the audit listeners count
into them. Keeping the definitions apart lets each of those import this module without
importing one another.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

if _multiprocess_dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus-client writes there from the first metric below; a CLI command run with
    # the server's environment must not fail on a directory gunicorn has not made yet.
    os.makedirs(_multiprocess_dir, exist_ok=True)

REQUESTS = Counter(
    "supportdesk_http_requests", "HTTP requests answered", ["endpoint", "method", "status"]
)
LATENCY = Histogram(
    "supportdesk_http_request_duration_seconds",
    "Time to answer a request, by endpoint",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
STATEMENTS = Histogram(
    "supportdesk_db_statements_per_request",
    "SQL statements run by one request",
    buckets=(0, 1, 2, 4, 6, 8, 10, 15, 20, 30, 50, 100, 250, 1000),
)
SLOW_STATEMENTS = Counter(
    "supportdesk_db_slow_statements", "Statements slower than SUPPORTDESK_SLOW_QUERY_MS"
)
AUDIT_ROWS = Counter(
    "supportdesk_audit_rows_written",
    "Audit rows inserted (a transaction rolled back afterwards still counts them)",
)
POOL_SIZE = Gauge("supportdesk_db_pool_size", "Pooled connections (all workers)",
                  multiprocess_mode="livesum")  # fmt: skip
POOL_CHECKED_OUT = Gauge("supportdesk_db_pool_checked_out", "Connections in use (all workers)",
                         multiprocess_mode="livesum")  # fmt: skip
POOL_OVERFLOW = Gauge("supportdesk_db_pool_overflow", "Connections beyond the pool size in use "
                      "(all workers; negative: unused pool room)",
                      multiprocess_mode="livesum")  # fmt: skip

# Email out (recorded by the worker's mail delivery, added up across processes).
MAIL_SEND_SECONDS = Histogram(
    "supportdesk_mail_send_seconds",
    "Time to hand one message to the SMTP server",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
MAIL_FAILURES = Counter(
    "supportdesk_mail_failures", "Failed delivery attempts, by class", ["class"]
)
REPLICA_LAG = Gauge(
    "supportdesk_replica_lag_seconds",
    "Replay lag of each read replica at its last check (-1: it did not answer)",
    ["replica"], multiprocess_mode="mostrecent",
)  # fmt: skip
REPLICA_POOL_CHECKED_OUT = Gauge(
    "supportdesk_replica_pool_checked_out", "Connections to each read replica in use (all workers)",
    ["replica"], multiprocess_mode="livesum",
)  # fmt: skip
REPLICA_POOL_SIZE = Gauge(
    "supportdesk_replica_pool_size", "Pooled connections to each read replica (all workers)",
    ["replica"], multiprocess_mode="livesum",
)  # fmt: skip
REPLICA_UP = Gauge(
    "supportdesk_replica_up", "1 if the read replica answered its last check, else 0",
    ["replica"], multiprocess_mode="mostrecent",
)  # fmt: skip
MAIL_PARKED = Gauge(
    "supportdesk_mail_parked",
    "Received messages parked for an admin (counted at scrape time)",
    multiprocess_mode="mostrecent",
)
MAIL_OUTBOX = Gauge(
    "supportdesk_mail_outbox", "Outbox deliveries by state (counted at scrape time)",
    ["state"], multiprocess_mode="mostrecent",
)  # fmt: skip

# Counts read from the database when /metrics is scraped: features add their refresher
# (plumbing cannot ask a feature's tables itself).
SCRAPE_REFRESHERS: list[Callable[[], None]] = []
