"""Forgot password: a single-use, 30-minute link sent by email.

The request records a :class:`PasswordReset` row in its own transaction; the worker mails
it (a queue of its own: the ticket outbox belongs to tickets). The link carries
``HMAC-SHA256(secret key, nonce)``; the database keeps the nonce and the SHA-256 of the
token, so a stolen backup or replica cannot reset a password.

What a reset does not do: log anyone in (the login, with its lock and its second step,
follows), lift a lock, or turn MFA off. Every answer to "send me a link" is the same,
whether an account has the address or not.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

import sqlalchemy as sa
from flask import Flask, current_app
from werkzeug.security import generate_password_hash

from supportdesk import worker
from supportdesk.audit.listeners import record_event
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.mail.notices import mail_staff
from supportdesk.users import service as users_service
from supportdesk.users.models import PasswordReset, User

LIFETIME = dt.timedelta(minutes=30)
PER_HOUR = 3  # links per account and hour; more requests are answered alike and dropped

RESET_TEXT = (
    "Hello {name},\n\n"
    "someone (hopefully you) asked to reset the password of your account {email} on "
    "{desk}.\nChoose a new password here (the link works once, until {until} UTC):\n\n"
    "{link}\n\n"
    "If you did not ask for this, ignore this message: your password stays as it is. "
    "The request came from {address}.\n\n"
    "Your two-step login, if you use it, is still asked for after the reset.\n"
)


def init_app(app: Flask) -> None:
    """Give the worker the reset queue (idempotent)."""
    worker.register(
        worker.QueueSpec(
            name="password_reset",
            model=PasswordReset,
            deliver=deliver,
            # A link lives 30 minutes: retry soon, and give up when it would be dead.
            max_attempts=lambda: 5,
            first_delay_seconds=lambda: 60.0,
        )
    )


def enabled() -> bool:
    """Whether the desk can mail reset links (it needs its address: ``BASE_URL``)."""
    return bool(current_app.config["BASE_URL"])


def _token(nonce: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    mac = hmac.new(key, f"password-reset:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_reset(email: str, *, remote_addr: str | None) -> bool:
    """Queue a reset link for the active account with ``email``; return whether one was.

    The caller answers the same either way. At most :data:`PER_HOUR` links an hour go to
    one account, so the form cannot be used to flood someone's mailbox.
    """
    user = users_service.find_user_by_email(email)
    if user is None or not user.is_active or user.is_system:
        return False
    now = utcnow()
    recent = db.session.scalar(
        sa.select(sa.func.count()).select_from(PasswordReset).where(
            PasswordReset.user_id == user.id,
            PasswordReset.created_at > now - dt.timedelta(hours=1),
        )
    ) or 0  # fmt: skip
    if recent >= PER_HOUR:
        record_event("user.password_reset_throttled", entity=user)
        return False
    nonce = secrets.token_hex(16)
    db.session.add(PasswordReset(user_id=user.id, nonce=nonce, token_hash=_hash(_token(nonce)),
                                 created_at=now, expires_at=now + LIFETIME,
                                 requested_from=(remote_addr or "")[:64] or None))  # fmt: skip
    db.session.flush()
    record_event("user.password_reset_requested", entity=user)
    return True


def valid_reset(token: str) -> PasswordReset | None:
    """Return the unused, unexpired reset of an active account that ``token`` names."""
    if len(token) > 100:
        return None
    reset = db.session.scalars(
        sa.select(PasswordReset).where(PasswordReset.token_hash == _hash(token))
    ).one_or_none()
    if reset is None or reset.used_at is not None or reset.expires_at <= utcnow():
        return None
    if not hmac.compare_digest(_token(reset.nonce), token):
        return None  # a token from another secret key (the key was rotated)
    user = db.session.get(User, reset.user_id)
    return reset if user is not None and user.is_active else None


def complete_reset(token: str, new_password: str) -> User | None:
    """Set a new password through the link; return the user, or None if it is not valid.

    Every link of the user is used up, and every session ends. The lock from failed
    logins and the second factor stay as they are.

    :raises InvalidUserError: the password is refused (the link stays good).
    """
    reset = valid_reset(token)
    if reset is None:
        return None
    user = db.session.get(User, reset.user_id, with_for_update=True)
    if user is None:
        return None
    users_service.check_password_policy(new_password)
    now = utcnow()
    user.password_hash = generate_password_hash(new_password)
    user.must_change_password = False
    db.session.execute(
        sa.update(PasswordReset)
        .where(PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
    )  # fmt: skip
    users_service.end_sessions(user)
    record_event("user.password_reset_completed", entity=user)
    return user


def deliver(reset_id: int) -> worker.DeliveryState:
    """Mail reset ``reset_id``'s link (the worker, outside any writing transaction)."""
    row = db.session.execute(
        sa.select(PasswordReset, User)
        .join(User, User.id == PasswordReset.user_id)
        .where(PasswordReset.id == reset_id)
    ).one_or_none()  # fmt: skip
    if row is None:
        raise worker.PermanentFailure("the account no longer exists")
    reset, user = row
    if reset.used_at is not None or reset.expires_at <= utcnow():
        raise worker.PermanentFailure("the link expired or was used before it could be sent")
    config = current_app.config
    text = RESET_TEXT.format(
        name=user.full_name, email=user.email, desk=config["BASE_URL"],
        until=f"{reset.expires_at:%Y-%m-%d %H:%M}", address=reset.requested_from or "unknown",
        link=f"{config['BASE_URL']}/password/reset/{_token(reset.nonce)}",
    )  # fmt: skip
    return mail_staff(
        user,
        subject="Reset your password",
        text=text,
        reference="reset",
        name=f"{reset.created_at:%Y%m%d-%H%M%S}-password-{reset.id}",
    )
