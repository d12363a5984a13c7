"""Request-wide hooks: request ids, the login gate and query statistics headers."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request
from flask_login import current_user

from supportdesk import querystats
from supportdesk.audit.context import AuditContext, reset_context, set_context, update_actor
from supportdesk.extensions import login_manager

# Endpoints anyone may reach; every other page requires a logged-in staff member.
PUBLIC_ENDPOINTS = frozenset({"auth.login", "health.health", "health.database", "static"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def init_app(app: Flask) -> None:
    """Install the hooks; the query counter goes first so it sees every statement."""
    app.before_request(_start_request)
    app.before_request(_require_login)
    app.after_request(_finish_response)
    app.teardown_request(_end_request)


def _start_request() -> None:
    g.request_started = time.perf_counter()
    querystats.reset()
    incoming = request.headers.get("X-Request-ID", "")
    # Trust a proxy's id only if it is short and plain; it ends up in logs and headers.
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    # Every change in this request is recorded with its request id and address; the
    # actor is filled in once the login session is known.
    g.audit_token = set_context(
        AuditContext(
            actor_id=None,
            actor_label="anonymous",
            source="web",
            request_id=g.request_id,
            remote_addr=request.remote_addr,
        )
    )


def _end_request(exc: BaseException | None) -> None:
    token = g.pop("audit_token", None)
    if token is not None:
        reset_context(token)


def _require_login() -> Response | None:
    if request.endpoint == "static" or (request.endpoint or "").startswith("health."):
        return None  # no session lookup (and no query) for assets and health checks
    if current_user.is_authenticated:
        update_actor(current_user.id, current_user.email)
        return None
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return login_manager.unauthorized()


def _finish_response(response: Response) -> Response:
    from flask import current_app

    response.headers["X-Request-ID"] = g.get("request_id", "")
    if current_app.config["QUERY_STATS"]:
        stats = querystats.current()
        response.headers["X-DB-Query-Count"] = str(stats.count)
        response.headers["X-DB-Query-Time-Ms"] = f"{stats.seconds * 1000:.2f}"
        started = g.get("request_started")
        if started is not None:
            total = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = (
                f"app;dur={total:.2f}, db;dur={stats.seconds * 1000:.2f}"
            )
    return response
