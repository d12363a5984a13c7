"""Who is calling the API and what they may do: bearer tokens, scopes, one commit per write.

The web session cookie is never read here: an API request is authenticated by its
``Authorization: Bearer sd_…`` header alone, so no CSRF token is needed (a browser never
adds that header by itself).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc as sa_exc
from flask import Response, abort, current_app, g, make_response, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address

from supportdesk.api.models import IdempotentRequest
from supportdesk.audit.context import update_actor
from supportdesk.db import unit_of_work, utcnow
from supportdesk.errors import problem
from supportdesk.extensions import db
from supportdesk.users import tokens
from supportdesk.users.models import ApiToken, TokenScope, User

View = TypeVar("View", bound=Callable[..., Any])
IDEMPOTENCY_HOURS = 24
_KEY_CHARS = frozenset(map(chr, range(0x21, 0x7F)))
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="supportdesk"'}
JSON_TYPES = ("application/json", "application/merge-patch+json")


def rate_limit() -> str:
    """Return the per-token rate limit (``SUPPORTDESK_API_RATE_LIMIT``)."""
    return str(current_app.config["API_RATE_LIMIT"])


def rate_limit_key() -> str:
    """Count requests per token (its hash), or per address for a request without one."""
    header = request.headers.get("Authorization", "")
    if header:
        return "token:" + hashlib.sha256(header.encode()).hexdigest()[:32]
    return "addr:" + (get_remote_address() or "")


def needs(scope: TokenScope) -> Callable[[View], View]:
    """Mark a view as needing ``scope`` (default: read for GET, write otherwise)."""

    def mark(view: View) -> View:
        view._api_scope = scope  # type: ignore[attr-defined]
        return view

    return mark


def _refuse(code: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
    abort(problem(code, title=title, detail=detail, headers=headers))


def authenticate() -> None:
    """Admit a request with a usable token that has the scope the view needs."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        _refuse(401, "Unauthorized", "Send a personal access token: "
                "`Authorization: Bearer sd_…`.", CHALLENGE)  # fmt: skip
    with unit_of_work(expire=False):  # the token's last use, noted at most once a minute
        token = tokens.authenticate(secret.strip(), address=request.remote_addr)
    if token is None:
        _refuse(
            401,
            "Unauthorized",
            "The token is unknown, expired or revoked.",
            {"WWW-Authenticate": 'Bearer realm="supportdesk", error="invalid_token"'},
        )
        return
    g.api_token = token
    update_actor(token.user.id, token.user.email, source="api")
    view = current_app.view_functions.get(request.endpoint or "")
    default = TokenScope.READ if request.method in ("GET", "HEAD") else TokenScope.WRITE
    wanted: TokenScope = getattr(view, "_api_scope", default)
    if not token.allows(wanted) or (wanted == TokenScope.ADMIN and not token.user.is_admin):
        what = "an admin's token with the admin scope" if wanted == TokenScope.ADMIN else (
            f"a token with the {wanted.value} scope")  # fmt: skip
        _refuse(403, "Forbidden", f"This needs {what}; this token has {token.scope.value}.")
    if request.method in ("POST", "PATCH", "PUT") and request.mimetype not in JSON_TYPES:
        _refuse(415, "Unsupported Media Type", "Send the body as application/json.")


def caller() -> User:
    """Return the token's owner (the request's actor)."""
    token: ApiToken = g.api_token
    return token.user


def _fingerprint() -> str:
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _replay(earlier: IdempotentRequest) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    if earlier.location:
        headers["Location"] = earlier.location
    return Response(json.dumps(earlier.body), status=earlier.status_code,
                    mimetype="application/json", headers=headers)  # fmt: skip


def _earlier(token_id: int, key: str) -> IdempotentRequest | None:
    row = db.session.get(IdempotentRequest, (token_id, key))
    if row is not None and (utcnow() - row.created_at).total_seconds() > IDEMPOTENCY_HOURS * 3600:
        db.session.delete(row)  # expired: the key is free again
        db.session.flush()
        return None
    return row


def _forget_expired(token_id: int) -> None:
    """Delete the token's keys older than a day (the table stays the size of a day's use)."""
    cutoff = utcnow() - dt.timedelta(hours=IDEMPOTENCY_HOURS)
    db.session.execute(
        sa.delete(IdempotentRequest).where(
            IdempotentRequest.token_id == token_id, IdempotentRequest.created_at < cutoff
        )
    )


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    if key is not None and not (1 <= len(key) <= 255 and set(key) <= _KEY_CHARS):
        _refuse(400, "Bad Request", "Idempotency-Key: 1 to 255 visible ASCII characters.")
    return key


def writes(view: View) -> View:
    """Run a write view in one transaction, committed here once.

    A POST with an ``Idempotency-Key`` is answered once: the same key and request gets
    the first answer again (``Idempotent-Replayed: true``), the same key with another
    request is refused (422). Two at once with one key: the second waits for the
    first's commit, fails on the key's row and gets the first answer.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        key = _idempotency_key()
        token: ApiToken = g.api_token
        fingerprint = _fingerprint() if key else ""
        try:
            with unit_of_work():
                earlier = _earlier(token.id, key) if key else None
                if earlier is not None:
                    if earlier.fingerprint != fingerprint:
                        _refuse(422, "Unprocessable Content", "This Idempotency-Key was "
                                "used for another request; use a new key.")  # fmt: skip
                    return _replay(earlier)
                response = make_response(view(*args, **kwargs))
                if key and response.status_code < 400:
                    _forget_expired(token.id)
                    db.session.add(IdempotentRequest(
                        token_id=token.id, key=key, fingerprint=fingerprint,
                        status_code=response.status_code, body=response.get_json(),
                        location=response.headers.get("Location"),
                    ))  # fmt: skip
        except sa_exc.IntegrityError:
            if not key:
                raise
            earlier = _earlier(token.id, key)
            if earlier is None or earlier.fingerprint != fingerprint:
                raise
            return _replay(earlier)
        return response

    return wrapper  # type: ignore[return-value]
