"""Domain errors and the error pages (no stack trace is ever shown to a user)."""

from __future__ import annotations

import json
import logging

import redis
import sqlalchemy.exc as sa_exc
from flask import Flask, Response, current_app, g, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from jinja2 import TemplateNotFound
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DomainError(Exception):
    """A business rule refused an operation; the message is safe to show to staff."""


class NotFoundError(DomainError):
    """The thing asked for does not exist."""


class ConflictError(DomainError):
    """The operation conflicts with existing data (a duplicate, a stale version)."""


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(sa_exc.TimeoutError, _database_unavailable)
    app.register_error_handler(sa_exc.OperationalError, _database_unavailable)
    # "connection already closed": a connection killed under a request (a failover, a
    # restart) that the driver noticed first; as transient as an OperationalError.
    app.register_error_handler(sa_exc.InterfaceError, _database_unavailable)
    app.register_error_handler(InternalServerError, _internal_error)
    # The rate limiter's Redis away: refuse (503), never let logins through unlimited.
    app.register_error_handler(redis.exceptions.ConnectionError, _limiter_unavailable)
    app.register_error_handler(redis.exceptions.TimeoutError, _limiter_unavailable)


def _limiter_unavailable(exc: Exception) -> ResponseReturnValue:
    log.error("rate limiter storage unavailable: %s", type(exc).__name__)
    if is_api_request():
        return problem(503, title="The desk is busy", detail="The rate limit cannot be "
                       "checked just now; try again in a minute.",
                       headers={"Retry-After": "30"})  # fmt: skip
    body, code = render_error(
        503, title="The desk is busy",
        message="Sign-ins are paused for a moment (the login limit cannot be checked). "
        "Try again in a minute.",
    )  # fmt: skip
    return body, code, {"Retry-After": "30"}


API_PREFIX = "/api/"
PROBLEM_JSON = "application/problem+json"


def is_api_request() -> bool:
    """Whether this request is the API's: its errors are problem details, never pages."""
    return request.path.startswith(API_PREFIX)


def problem(
    code: int, *, title: str, detail: str = "", errors: dict[str, list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    """Return an RFC 9457 problem details response (``errors``: field -> messages)."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": code,
                               "detail": detail or title,
                               "request_id": g.get("request_id") or ""}  # fmt: skip
    if errors:
        body["errors"] = errors
    response = current_app.response_class(
        json.dumps(body), status=code, mimetype=PROBLEM_JSON, headers=headers
    )
    return response


def render_error(code: int, *, title: str, message: str) -> tuple[str, int]:
    """Render the error page for ``code`` (a template per code, or the generic one)."""
    context = {"code": code, "title": title, "message": message, "request_id": g.get("request_id")}
    try:
        return render_template(f"errors/{code}.html", **context), code
    except TemplateNotFound:
        return render_template("errors/generic.html", **context), code


# What a person is told instead of werkzeug's stock sentences ("…check your spelling…").
FRIENDLY = {
    404: "There is nothing at this address: the link may be old, or what it pointed to was "
    "deleted. Go back, or start again from the ticket list.",
    405: "This page cannot be used that way (for example a form sent to an address that only "
    "shows a page). Go back and try again from the page itself.",
}


def _field_errors(exc: HTTPException) -> dict[str, list[str]] | None:
    """Return the field map of a validation error (webargs puts it in ``exc.data``)."""
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if not isinstance(messages, dict):
        return None
    found: dict[str, list[str]] = {}

    def collect(prefix: str, errors: object) -> None:
        if isinstance(errors, dict):  # a list's items or a nested object's: "tag_ids.0"
            for key, inner in errors.items():
                collect(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(errors, list):
            found[prefix] = [str(e) for e in errors]
        else:
            found[prefix] = [str(errors)]

    for location in messages.values():  # {"json": {"title": [...]}, "query": {...}}
        collect("", location)
    return found


def _http_error(exc: HTTPException) -> ResponseReturnValue:
    if exc.code is None or exc.code < 400:
        return exc.get_response()
    if is_api_request():
        headers = {k: v for k, v in exc.get_response().headers.items()
                   if k in ("Retry-After", "Allow")}  # fmt: skip
        fields = _field_errors(exc)
        detail = exc.description or ""
        if fields:  # say what is wrong, not webargs' generic sentence
            detail = "Check these fields: " + "; ".join(
                f"{name}: {' '.join(messages)}" for name, messages in sorted(fields.items())
            )
        return problem(exc.code, title=exc.name, detail=detail, errors=fields,
                       headers=headers)  # fmt: skip
    message = exc.description or ""
    if message == type(exc).description and exc.code in FRIENDLY:  # werkzeug's stock text
        message = FRIENDLY[exc.code]
    body, code = render_error(exc.code, title=exc.name, message=message)
    response = exc.get_response()
    response.set_data(body)
    response.status_code = code
    response.content_type = "text/html; charset=utf-8"
    return response


def _csrf_error(exc: CSRFError) -> tuple[str, int]:
    return render_error(
        400,
        title="The form could not be accepted",
        message="Its security token was missing or no longer valid (for example after you "
        "logged out in another tab). Go back, reload the page and send it again; "
        "your browser usually keeps what you typed.",
    )


# SQLite raises OperationalError for a missing table as well as for a busy database; only
# these mean "try again" there. (psycopg2's OperationalError family is the transient kind:
# connection lost or refused, statement or lock timeout, deadlock, serialisation failure.)
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "unable to open database",
                     "disk i/o error")  # fmt: skip


def _is_transient(exc: Exception) -> bool:
    if not isinstance(exc, sa_exc.OperationalError):
        return True  # the pool's TimeoutError
    if type(exc.orig).__module__ == "sqlite3":
        return str(exc.orig).lower().startswith(_SQLITE_TRANSIENT)
    return True


def _database_unavailable(exc: Exception) -> ResponseReturnValue:
    if not _is_transient(exc):
        return _internal_error(InternalServerError(original_exception=exc))
    # The driver's message (never the statement or its parameters, which can hold
    # personal data) goes to the log with the request id the page shows.
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
    log.error(
        "database unavailable (request %s, %s %s): %s: %s",
        g.get("request_id"),
        request.method,
        request.path,
        type(exc).__name__,
        reason,
    )
    title, message = _explain(exc)
    if is_api_request():
        return problem(503, title=title, detail=message,
                       headers={"Retry-After": str(RETRY_AFTER_SECONDS)})  # fmt: skip
    # Rendering would look the user up (Flask-Login's template context), which needs the
    # database that just failed: the page is shown as to a visitor instead.
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]  # Flask-Login sets it on the app
    body, code = render_error(503, title=title, message=message)
    return body, code, {"Retry-After": str(RETRY_AFTER_SECONDS)}


# PostgreSQL error codes that have their own explanation (the rest: "did not answer").
_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout
_QUERY_CANCELED = "57014"  # statement_timeout
_DEADLOCK = "40P01"


def _explain(exc: Exception) -> tuple[str, str]:
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    if code in (_LOCK_NOT_AVAILABLE, _DEADLOCK):
        return ("Busy, try again", "Someone else is changing the same ticket (or tickets) right "
                "now, and it took longer than usual. Nothing you sent was saved; try again in "
                "a few seconds.")  # fmt: skip
    if code == _QUERY_CANCELED:
        return ("That took too long", "The database stopped this request because it ran "
                "longer than allowed. Nothing you sent was saved. Try again; if it keeps "
                "happening, narrow the filters or tell an admin the request id below.")  # fmt: skip
    return ("The desk is busy", "The database did not answer in time. Nothing you sent was "
            "saved; please try again in a few seconds.")  # fmt: skip


def _internal_error(exc: InternalServerError) -> ResponseReturnValue:
    original = exc.original_exception or exc
    log.error("unhandled error (request %s)", g.get("request_id"), exc_info=original)
    if is_api_request():
        return problem(
            500,
            title="Something went wrong",
            detail="The error has been logged. Nothing you sent was saved.",
        )
    return render_error(
        500,
        title="Something went wrong",
        message="The error has been logged. Nothing you sent was saved.",
    )
