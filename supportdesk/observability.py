"""Metrics (Prometheus) and request logs (text or one JSON line per request).

Metrics are module-level prometheus-client objects. Under gunicorn each worker writes
its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (gunicorn.conf.py sets one up), and
``GET /metrics`` adds up every worker's files, so the figures are the whole server's, not
the one worker that answered the scrape. ``/metrics`` needs ``Authorization: Bearer
<SUPPORTDESK_METRICS_TOKEN>``; without a configured token it is 404.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
import time
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, g, has_request_context, request
from flask.logging import default_handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import event
from sqlalchemy.engine import Engine

from supportdesk import querystats
from supportdesk.db import db
from supportdesk.metrics import (
    LATENCY,
    POOL_CHECKED_OUT,
    POOL_OVERFLOW,
    POOL_SIZE,
    REQUESTS,
    SCRAPE_REFRESHERS,
    STATEMENTS,
)

bp = Blueprint("metrics", __name__)
request_log = logging.getLogger("supportdesk.request")


def init_app(app: Flask) -> None:
    """Install the request hooks, the pool listeners and the log format."""
    configure_logging(app)
    app.before_request(_start)
    app.after_request(_record)
    app.register_blueprint(bp)

    with app.app_context():
        _watch_pool(db.engine)


def configure_logging(app: Flask) -> None:
    """Send the app's logs to stderr as text or (``SUPPORTDESK_LOG_FORMAT=json``) JSON."""
    logger = logging.getLogger("supportdesk")
    if app.config["LOG_FORMAT"] == "json":
        formatter: logging.Formatter = JsonFormatter(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        )
    logger.removeHandler(default_handler)  # Flask's; ours below says the same, formatted
    handler = next((h for h in logger.handlers if getattr(h, "supportdesk", False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.supportdesk = True  # type: ignore[attr-defined]  # our mark on the handler
        handler.addFilter(_RequestIdFilter())
        logger.addHandler(handler)
    handler.setFormatter(formatter)


class _RequestIdFilter(logging.Filter):
    """Stamp every record with the request id (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _record(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None:
        return response
    seconds = time.perf_counter() - started
    endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
    stats = querystats.current()
    # Every label is from a closed set: a client choosing methods or paths must not be able
    # to make a series per request (300 made-up methods were 300 series).
    method = request.method if request.method in KNOWN_METHODS else "other"
    REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
    LATENCY.labels(endpoint).observe(seconds)
    STATEMENTS.observe(stats.count)
    if current_app.config["LOG_FORMAT"] == "json":
        from flask_login import current_user

        user_id = current_user.get_id() if current_user.is_authenticated else None
        # The path only: a query string may hold what someone searched for.
        request_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={
                "request_id": g.get("request_id"), "user_id": user_id,
                "method": request.method, "path": request.path,
                "status": response.status_code, "duration_ms": round(seconds * 1000, 2),
                "db_statements": stats.count, "db_ms": round(stats.seconds * 1000, 2),
            },
        )  # fmt: skip
    return response


def _watch_pool(engine: Engine) -> None:
    pool = engine.pool
    if not all(hasattr(pool, name) for name in ("size", "checkedout", "overflow")):
        return  # SQLite's in-memory pools have no counts

    def update(*args: Any) -> None:
        POOL_SIZE.set(pool.size())  # type: ignore[attr-defined]  # QueuePool, checked above
        POOL_CHECKED_OUT.set(pool.checkedout())  # type: ignore[attr-defined]  # same
        POOL_OVERFLOW.set(pool.overflow())  # type: ignore[attr-defined]  # same

    for name in ("checkout", "checkin", "connect", "close", "invalidate"):
        event.listen(pool, name, update)


def holds_metrics_token() -> bool:
    """Whether the request carries ``Authorization: Bearer <SUPPORTDESK_METRICS_TOKEN>``."""
    token = current_app.config["METRICS_TOKEN"]
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text format, for a scraper holding the bearer token."""
    if not current_app.config["METRICS_TOKEN"]:
        abort(404)
    if not holds_metrics_token():
        return Response(
            "A bearer token is needed (SUPPORTDESK_METRICS_TOKEN).\n", 401,
            {"WWW-Authenticate": 'Bearer realm="metrics"', "Content-Type": "text/plain"},
        )  # fmt: skip
    for refresh in SCRAPE_REFRESHERS:  # counts that live in the database (the outbox)
        refresh()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, 200, {"Content-Type": CONTENT_TYPE_LATEST})
