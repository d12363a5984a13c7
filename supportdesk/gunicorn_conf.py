"""Gunicorn settings, read from SUPPORTDESK_* variables (see docs/deployment.md).

``gunicorn -c python:supportdesk.gunicorn_conf`` from anywhere once the package is
installed; the checkout's ``gunicorn.conf.py`` imports this module.
"""

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import gunicorn.http.wsgi as gunicorn_wsgi  # type: ignore[import-untyped]

from supportdesk.config import PREFIX, ConfigError, int_setting, validate_environment

try:
    # Fail in the master with one clear line, before any worker is forked.
    validate_environment(os.environ)
    bind = os.environ.get(f"{PREFIX}BIND", "127.0.0.1:8000")
    workers = int_setting(1, 64)("WORKERS", os.environ.get(f"{PREFIX}WORKERS", "2"))
    # Threads per worker (gthread above 1): each thread needs its own pooled connection,
    # so keep SUPPORTDESK_DB_POOL_SIZE + SUPPORTDESK_DB_MAX_OVERFLOW >= threads.
    threads = int_setting(1, 64)("THREADS", os.environ.get(f"{PREFIX}THREADS", "1"))
    # Pool checkouts time out after SUPPORTDESK_DB_POOL_TIMEOUT (3 s) and statements after
    # statement_timeout (30 s), so a request never needs gunicorn's timeout to end it.
    timeout = int_setting(5, 3600)("TIMEOUT", os.environ.get(f"{PREFIX}TIMEOUT", "60"))
    graceful_timeout = int_setting(1, 3600)(
        "GRACEFUL_TIMEOUT", os.environ.get(f"{PREFIX}GRACEFUL_TIMEOUT", "30")
    )
    json_logs = os.environ.get(f"{PREFIX}LOG_FORMAT", "text") == "json"
except ConfigError as exc:
    raise SystemExit(f"supportdesk: configuration error: {exc}") from None

# No "Server: gunicorn" (the server and, in its error pages, its version are nobody's
# business): gunicorn has no setting for it; its responses read this module global.
gunicorn_wsgi.SERVER = "supportdesk"

wsgi_app = "supportdesk.wsgi:app"
# With JSON logs the app writes one line per request itself; gunicorn's would double it.
accesslog = None if json_logs else "-"
errorlog = "-"

# Metrics: every worker writes its values to files here and GET /metrics adds them up
# (prometheus-client's multiprocess mode). Set before any worker imports the app.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="supportdesk-metrics-")

# Only now: prometheus-client picks its multiprocess mode from that variable on import.
from prometheus_client import multiprocess  # noqa: E402

from supportdesk.extensions import db  # noqa: E402


def on_starting(server: Any) -> None:
    """Start the figures from zero: an earlier run's files would be added to this one's."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def post_fork(server: Any, worker: Any) -> None:
    """Give each worker its own connections.

    With ``--preload`` the app, and so its engine, is created in the master before the
    fork; a pooled connection inherited by two processes would interleave their traffic
    on one socket. Dropping the inherited pool (without closing the master's sockets,
    which ``close=False`` leaves to the master) makes the worker open fresh ones.
    """
    wsgi = sys.modules.get("supportdesk.wsgi")
    if wsgi is not None:
        with wsgi.app.app_context():
            db.engine.dispose(close=False)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a finished worker's live gauges (the pool figures) from the totals."""
    multiprocess.mark_process_dead(worker.pid)
