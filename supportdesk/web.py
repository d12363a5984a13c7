"""Request-wide hooks: request ids, the login gate and query statistics headers."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import uuid

import sqlalchemy.exc as sa_exc
from flask import (
    Flask,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user, logout_user

from supportdesk import querystats, timing
from supportdesk.assets import YEAR_SECONDS
from supportdesk.audit.context import AuditContext, reset_context, set_context, update_actor
from supportdesk.db import db
from supportdesk.errors import is_api_request
from supportdesk.extensions import login_manager
from supportdesk.proxy import VIA_PROXY
from supportdesk.rendering import local_time, render_markdown, stored_markdown, when
from supportdesk.replicas import note_write

# Endpoints anyone may reach; every other page requires a logged-in staff member.
PUBLIC_ENDPOINTS = frozenset(
    {
        "auth.login",
        "auth.login_code",
        "auth.forgot_password",
        "auth.reset_password",
        "auth.security_txt",
        "health.health",
        "health.database",
        "static",
        "metrics.metrics",
    }  # fmt: skip
)
# What a user whose password was reset may still reach before changing it.
PASSWORD_ENDPOINTS = frozenset({"auth.change_password", "auth.logout"})
log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def init_app(app: Flask) -> None:
    """Install the hooks; the query counter goes first so it sees every statement."""
    app.before_request(_start_request)
    app.before_request(_refuse_nul_characters)
    app.before_request(_require_login)
    app.after_request(_finish_response)
    app.teardown_request(_end_request)
    # Registered after Flask-SQLAlchemy's, so it runs first (teardowns run in reverse).
    app.teardown_appcontext(_release_session)
    app.add_template_filter(render_markdown, "markdown")
    app.add_template_global(stored_markdown, "stored_markdown")
    app.add_template_global(when, "when")
    app.add_template_global(local_time, "local_time")


def _from_trusted_proxy() -> bool:
    """Whether this request came through a proxy of SUPPORTDESK_TRUSTED_PROXIES.

    The middleware decided on the peer address, before ProxyFix replaced it.
    """
    return bool(request.environ.get(VIA_PROXY))


def _start_request() -> None:
    g.request_started = time.perf_counter()
    querystats.reset()
    timing.reset()
    # A proxy's request id is kept only from a trusted proxy (SUPPORTDESK_TRUSTED_PROXIES),
    # and only if short and plain: it ends up in logs, audit rows and headers. A client
    # choosing its own id could make its requests look like someone else's.
    incoming = request.headers.get("X-Request-ID", "") if _from_trusted_proxy() else ""
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
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


def _refuse_nul_characters() -> None:
    """Answer 400 to a NUL in any field: PostgreSQL text cannot hold one (it would be a 500)."""
    fields = [request.args]
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        fields.append(request.form)
    for multidict in fields:
        for values in multidict.listvalues():
            if any("\x00" in value for value in values):
                abort(400, "The request contains a NUL character, which no field accepts.")


def _release_session(exc: BaseException | None) -> None:
    """End the request's session; a connection lost after the response was made is no 500.

    The closing ROLLBACK is the last statement of every request. If the database went
    away since the page was rendered (a restart, a killed backend), it fails; the pool has
    invalidated the connection by then, so the answer already made stands.
    """
    try:
        db.session.remove()
    except sa_exc.DBAPIError as error:
        log.warning("connection lost while ending the request: %s", type(error).__name__)
        with contextlib.suppress(sa_exc.DBAPIError):
            db.session.remove()
        db.session.registry.clear()


def _end_request(exc: BaseException | None) -> None:
    token = g.pop("audit_token", None)
    if token is not None:
        reset_context(token)


def _require_login() -> ResponseReturnValue | None:
    if request.endpoint in ("static", "metrics.metrics") or (request.endpoint or "").startswith(
        "health."
    ):
        return None  # no session lookup (and no query) for assets, health checks, metrics
    if is_api_request():
        return None  # the API reads a bearer token, never the session cookie
    _expire_stale_session()
    if current_user.is_authenticated:
        update_actor(current_user.id, current_user.email)
        g.time_zone = current_user.time_zone  # the pages' times (rendering.when)
        if current_user.must_change_password and request.endpoint not in PASSWORD_ENDPOINTS:
            flash("Choose a new password before you go on.", "info")
            return redirect(url_for("auth.change_password"))
        return None
    if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return login_manager.unauthorized()


def _expire_stale_session() -> None:
    """End a login session idle for too long, or older than the absolute lifetime."""
    if "_user_id" not in session:
        return
    now = time.time()
    idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
    lifetime = current_app.config["SESSION_MAX_HOURS"] * 3600
    if now - session.get("seen", 0) > idle or now - session.get("login_at", 0) > lifetime:
        logout_user()
        session.clear()
        flash("Your session expired; please log in again.", "info")
        return
    session["seen"] = now


def start_session(user_id: int, epoch: int) -> None:
    """Stamp a fresh login session (called right after ``login_user``)."""
    now = time.time()
    session.permanent = True  # the cookie expires after the idle time, renewed per request
    session["login_at"] = session["seen"] = now
    session["epoch"] = epoch


# Every response: no framing, no MIME sniffing, no referrer leaks, no inline script.
# style-src-attr allows style="…" attributes only (tag colours); <style> blocks stay out.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


def _security_headers(response: Response) -> None:

    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["X-Frame-Options"] = "DENY"
    if current_app.config["HTTPS"]:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint != "static":
        # Pages show customer data: never keep them in a browser or proxy cache.
        headers["Cache-Control"] = "no-store"
    elif request.args.get("v") and response.status_code == 200:
        # A content-hashed URL (supportdesk.assets): this URL never changes content.
        headers["Cache-Control"] = f"public, max-age={YEAR_SECONDS}, immutable"


def _finish_response(response: Response) -> Response:

    _security_headers(response)
    response.headers["X-Request-ID"] = g.get("request_id", "")
    # Read-your-writes: a signed-in user's successful POST keeps their next reads on the
    # primary. "Signed in" is read from the session, not from current_user: after the
    # view's commit the user object is expired, and asking it would cost a SELECT.
    if (request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 400
            and "_user_id" in session):  # fmt: skip
        note_write()
    if current_app.config["QUERY_STATS"]:
        stats = querystats.current()
        response.headers["X-DB-Query-Count"] = str(stats.count)
        response.headers["X-DB-Read-From"] = g.get("read_from", "primary")
        response.headers["X-DB-Query-Time-Ms"] = f"{stats.seconds * 1000:.2f}"
        started = g.get("request_started")
        if started is not None:
            response.headers["Server-Timing"] = timing.server_timing(time.perf_counter() - started)
    return response
