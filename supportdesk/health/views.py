"""Health checks for load balancers and monitoring (no login)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from supportdesk import worker
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.observability import holds_metrics_token
from supportdesk.version import __version__

bp = Blueprint("health", __name__, url_prefix="/health")
log = logging.getLogger(__name__)


@bp.get("")
def health() -> ResponseReturnValue:
    """Answer 200 while the process serves; the database is not touched."""
    return jsonify(status="ok", version=__version__)


@bp.get("/database")
def database() -> ResponseReturnValue:
    """Run ``SELECT 1``: 200, or 503 with a short reason; the pool's figures for monitoring."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        reason = (
            "timed out waiting for a connection"
            if isinstance(exc, sa.exc.TimeoutError)
            else "database unreachable"
        )
        return jsonify(status="unavailable", reason=reason), 503
    # Pool figures are for monitoring (the metrics token) and admins, not for anyone.
    if not (holds_metrics_token() or (current_user.is_authenticated and current_user.is_admin)):
        return jsonify(status="ok")
    pool = db.session.get_bind().engine.pool
    stats = {
        "size": _call(pool, "size"),
        "checked_in": _call(pool, "checkedin"),
        "checked_out": _call(pool, "checkedout"),
        "overflow": _call(pool, "overflow"),
    }
    replicas = current_app.extensions.get("supportdesk_replicas")
    if replicas is not None and replicas.replicas:
        return jsonify(status="ok", pool=stats, replicas=replicas.status())
    return jsonify(status="ok", pool=stats)


def _call(pool: object, name: str) -> int | None:
    method = getattr(pool, name, None)
    return method() if callable(method) else None


@bp.get("/worker")
def worker_health() -> ResponseReturnValue:
    """Say when a worker last looked at its queues and last delivered something.

    ``stale`` (and 503) when no worker beat for three of its intervals plus a minute: mail
    waits in the outbox until one runs again.
    """
    try:
        beat = worker.last_beat()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("health check: database unreachable: %s", type(exc).__name__)
        return jsonify(status="unavailable", reason="database unreachable"), 503
    if beat is None:
        return jsonify(status="stale", reason="no worker has run yet (flask worker)"), 503
    limit = 3 * current_app.config["WORKER_INTERVAL_SECONDS"] + 60
    age = (utcnow() - beat.beat_at).total_seconds()
    body = {
        "status": "ok" if age <= limit else "stale",
        "worker": beat.name,
        "beat_at": beat.beat_at.isoformat(),
        "seconds_since_beat": round(age, 1),
        "progress_at": beat.progress_at.isoformat() if beat.progress_at else None,
    }
    return jsonify(body), 200 if age <= limit else 503
