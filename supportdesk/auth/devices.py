"""Known devices: a signed cookie issued after a successful login (OWASP's "device cookie").

A staff member's browser that logged in before carries ``device`` = signed(user id,
random nonce). Failed passwords from anywhere else lock the account for *unknown*
devices only: an attacker hammering an account can no longer keep its owner out, while
guesses without the cookie still meet the lock (and, per client and account, the rate
limit). The cookie holds no secret and grants nothing by itself: the password is still
needed; it only says "this browser has signed in as this user before".

The same cookie carries "remember this device" for the second factor: until when the
browser skips the code, and for which enrolment (a new enrolment or an admin's MFA reset
ends the trust of every browser at once).
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from supportdesk.users.models import User

MAX_AGE_DAYS = 180
MFA_TRUST_DAYS = 30
_SALT = "supportdesk-device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def cookie_name() -> str:
    """``__Host-device`` under HTTPS (no Domain, path /, Secure), else ``device``."""
    return "__Host-device" if current_app.config["HTTPS"] else "device"


def _payload() -> dict[str, Any] | None:
    raw = request.cookies.get(cookie_name())
    if not raw:
        return None
    try:
        value = _serializer().loads(raw, max_age=MAX_AGE_DAYS * 86_400)
    except BadSignature:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("u"), int) else None


def known_user_id() -> int | None:
    """Return the user id this browser's device cookie was issued to, if it is genuine."""
    payload = _payload()
    return payload["u"] if payload else None


def _enrolment(user: User) -> int | None:
    return int(user.mfa_enabled_at.timestamp()) if user.mfa_enabled_at else None


def trusted_for_mfa(user: User) -> bool:
    """Whether this browser may skip ``user``'s second step.

    It may when it was remembered, not long ago, and for the user's current enrolment.
    """
    payload = _payload()
    if not payload or payload["u"] != user.id or _enrolment(user) is None:
        return False
    until, enrolment = payload.get("m"), payload.get("e")
    return isinstance(until, int) and until > time.time() and enrolment == _enrolment(user)


def mfa_trusted_until(user: User) -> dt.datetime | None:
    """Until when this browser skips ``user``'s code, if it does."""
    if not trusted_for_mfa(user):
        return None
    payload = _payload() or {}
    return dt.datetime.fromtimestamp(payload["m"], dt.UTC)


def remember(response: Response, user: User, *, trust_mfa: bool | None = None) -> None:
    """Issue (or renew) this browser's device cookie for ``user``.

    ``trust_mfa``: True starts 30 days without codes, False ends them, None keeps what the
    browser had for this user.
    """
    value: dict[str, Any] = {"u": user.id, "n": secrets.token_urlsafe(12)}
    if trust_mfa is None and trusted_for_mfa(user):
        previous = _payload() or {}
        value["m"], value["e"] = previous["m"], previous["e"]
    elif trust_mfa and _enrolment(user) is not None:
        value["m"], value["e"] = int(time.time()) + MFA_TRUST_DAYS * 86_400, _enrolment(user)
    response.set_cookie(
        cookie_name(), _serializer().dumps(value), max_age=MAX_AGE_DAYS * 86_400, path="/",
        httponly=True, secure=bool(current_app.config["HTTPS"]), samesite="Lax",
    )  # fmt: skip
