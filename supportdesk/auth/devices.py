"""Known devices: a signed cookie issued after a successful login (OWASP's "device cookie").

A staff member's browser that logged in before carries ``device`` = signed(user id,
random nonce). Failed passwords from anywhere else lock the account for *unknown*
devices only: an attacker hammering an account can no longer keep its owner out, while
guesses without the cookie still meet the lock (and, per client and account, the rate
limit). The cookie holds no secret and grants nothing by itself: the password is still
needed; it only says "this browser has signed in as this user before".
"""

from __future__ import annotations

import secrets

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

MAX_AGE_DAYS = 180
_SALT = "supportdesk-device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def cookie_name() -> str:
    """``__Host-device`` under HTTPS (no Domain, path /, Secure), else ``device``."""
    return "__Host-device" if current_app.config["HTTPS"] else "device"


def known_user_id() -> int | None:
    """Return the user id this browser's device cookie was issued to, if it is genuine."""
    raw = request.cookies.get(cookie_name())
    if not raw:
        return None
    try:
        value = _serializer().loads(raw, max_age=MAX_AGE_DAYS * 86_400)
    except BadSignature:
        return None
    user_id = value.get("u") if isinstance(value, dict) else None
    return user_id if isinstance(user_id, int) else None


def remember(response: Response, user_id: int) -> None:
    """Issue (or renew) this browser's device cookie for ``user_id``."""
    token = _serializer().dumps({"u": user_id, "n": secrets.token_urlsafe(12)})
    response.set_cookie(
        cookie_name(), token, max_age=MAX_AGE_DAYS * 86_400, path="/", httponly=True,
        secure=bool(current_app.config["HTTPS"]), samesite="Lax",
    )  # fmt: skip
