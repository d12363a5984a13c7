"""Multi-factor authentication: TOTP codes (RFC 6238) and single-use recovery codes.

The rules live here, once: the login's second step, the security page, the staff page's
"Reset MFA" and ``flask users reset-mfa`` all call these functions. Libraries: pyotp for
TOTP (the reference implementation most authenticator apps are tested against) and segno
for the QR code (pure Python, renders SVG, so no image service and no external request).
"""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp
import segno
import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from supportdesk.db import utcnow
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.users.models import RecoveryCode, User

RECOVERY_CODES = 10
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
SETUP_MAX_AGE_SECONDS = 15 * 60
_SETUP_SALT = "supportdesk-mfa-setup"


class MfaError(DomainError):
    """A code is wrong, or the change is not allowed."""


def required_for(user: User) -> bool:
    """Whether ``user`` must have a second factor (``SUPPORTDESK_MFA_REQUIRED``)."""
    mode = current_app.config["MFA_REQUIRED"]
    return mode == "all" or (mode == "admins" and user.is_admin)


# Enrolment. The new secret travels in the page only (signed, in a hidden field, with the
# user's id and a 15-minute lifetime): not in the session cookie (signed, not encrypted)
# and not in the database before it is confirmed with a code from the app.


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SETUP_SALT)


def new_setup(user: User) -> tuple[str, str]:
    """Return a new secret and its signed setup token for ``user``'s enrolment form."""
    secret = pyotp.random_base32()  # 160 bits, as RFC 4226 recommends
    return secret, _serializer().dumps({"u": user.id, "s": secret})


def secret_from_setup(user: User, token: str) -> str:
    """Return the secret that ``token`` carries for ``user``.

    :raises MfaError: the token is forged, another user's, or older than 15 minutes.
    """
    try:
        value = _serializer().loads(token, max_age=SETUP_MAX_AGE_SECONDS)
    except BadSignature:
        raise MfaError("This set-up page is too old; scan the new code below.") from None
    if not isinstance(value, dict) or value.get("u") != user.id or not value.get("s"):
        raise MfaError("This set-up page is too old; scan the new code below.")
    return str(value["s"])


def provisioning_uri(user: User, secret: str) -> str:
    """Return the ``otpauth://`` address an authenticator app reads from the QR code."""
    issuer = current_app.config["MFA_ISSUER"]
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_data_uri(text: str) -> str:
    """Return an SVG QR code of ``text`` as a ``data:`` URI (the CSP allows it)."""
    return str(segno.make(text, error="m").svg_data_uri(scale=5, border=2))


def grouped(secret: str) -> str:
    """Return the secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def enable(user: User, secret: str, code: str) -> list[str]:
    """Turn MFA on with ``secret`` once ``code`` proves the app has it.

    Returns the recovery codes (shown once).

    :raises MfaError: the code does not match, or MFA is on already.
    """
    if user.has_mfa:
        raise MfaError("Two-step login is on already.")
    step = _matching_step(secret, code, after=None)
    if step is None:
        raise MfaError("That code does not match; check the time on your phone and try again.")
    user.mfa_secret = secret
    user.mfa_enabled_at = utcnow()
    user.mfa_last_step = step
    return renew_recovery_codes(user)


def disable(user: User) -> bool:
    """Turn MFA off (the user, or an admin's reset); return whether it was on.

    Recovery codes go with it, and browsers trusted for it are no longer trusted (the
    device cookie names the enrolment it was trusted for).
    """
    was_on = user.has_mfa
    user.mfa_secret = None
    user.mfa_enabled_at = None
    user.mfa_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.flush()
    return was_on


def renew_recovery_codes(user: User) -> list[str]:
    """Replace ``user``'s recovery codes with ten new ones; return them (shown once)."""
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash(c)) for c in codes)
    db.session.flush()
    return codes


def recovery_codes_left(user: User) -> int:
    """How many unused recovery codes ``user`` has."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ) or 0  # fmt: skip


def verify(user: User, code: str) -> str | None:
    """Check a login's second step: a TOTP code or a recovery code.

    Returns ``"totp"`` or ``"recovery"`` (the code is then used up), or ``None``. A TOTP
    code is accepted in the 30-second step before, at or after the server's clock, and
    only once: a code seen on a shoulder or a screen share cannot be replayed.
    """
    if not user.has_mfa or user.mfa_secret is None:
        return None
    text = code.strip()
    if _digits(text) is not None:
        step = _matching_step(user.mfa_secret, text, after=user.mfa_last_step)
        if step is None:
            return None
        user.mfa_last_step = step
        return "totp"
    normalised = "".join(ch for ch in text.lower() if ch.isalnum())
    if len(normalised) != 12:
        return None
    row = db.session.scalars(
        sa.select(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash(normalised),
            RecoveryCode.used_at.is_(None),
        )
        .with_for_update()
    ).first()
    if row is None:
        return None
    row.used_at = utcnow()
    db.session.flush()
    return "recovery"


def _digits(code: str) -> str | None:
    compact = code.replace(" ", "")
    return compact if len(compact) == 6 and compact.isascii() and compact.isdigit() else None


def _matching_step(secret: str, code: str, *, after: int | None) -> int | None:
    """Return the time step (±1 around now) whose code is ``code``, if later than ``after``."""
    compact = _digits(code)
    if compact is None:
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // totp.interval
    for step in (now_step - 1, now_step, now_step + 1):
        if after is not None and step <= after:
            continue
        if secrets.compare_digest(totp.at(step * totp.interval), compact):
            return step
    return None


def _new_recovery_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(12))  # ~59 bits


def format_recovery_code(code: str) -> str:
    """``abcd-efgh-jkmn``: how a recovery code is shown (typed with or without dashes)."""
    return "-".join(code[i : i + 4] for i in range(0, 12, 4))


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()
