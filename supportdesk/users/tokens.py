"""Personal access tokens for the API: made, shown once, checked, revoked.

A token reads ``sd_`` + 43 URL-safe characters (256 random bits). The fixed prefix lets
secret scanners (GitHub's, gitleaks) find a leaked one; the table keeps its SHA-256 and
its first characters (to tell tokens apart on the owner's page), never the token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from supportdesk.audit.listeners import audited_bulk
from supportdesk.db import utcnow
from supportdesk.errors import DomainError, NotFoundError
from supportdesk.extensions import db
from supportdesk.users.models import ApiToken, TokenScope, User

TOKEN_PREFIX = "sd_"  # noqa: S105  # nosec B105 - not a secret: every token starts so
_TOKEN = re.compile(r"sd_[A-Za-z0-9_-]{43}")
SHOWN_CHARS = 8  # "sd_" and five characters of the secret
MAX_TOKENS_PER_USER = 50
MAX_EXPIRY_DAYS = 3650
# last_used_at is written at most this often per token: a busy integration must not turn
# every GET into a write.
LAST_USED_EVERY = dt.timedelta(minutes=1)


class InvalidTokenRequestError(DomainError):
    """A token cannot be made as asked (name, scope, expiry)."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: the row, and the secret shown to its owner this once."""

    token: ApiToken
    secret: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    user: User, *, name: str, scope: TokenScope, expires_days: int | None = None
) -> NewToken:
    """Make a token for ``user`` with ``scope``, expiring after ``expires_days`` (or never).

    :raises InvalidTokenRequestError: no name, a scope above the user's role, a bad expiry,
        an inactive user or too many tokens.
    """
    name = " ".join(name.split())
    if not name or len(name) > 80:
        raise InvalidTokenRequestError("Give the token a name of 1 to 80 characters.")
    if scope == TokenScope.ADMIN and not user.is_admin:
        raise InvalidTokenRequestError("Only admins can make tokens with the admin scope.")
    if not user.is_active or user.is_system:
        raise InvalidTokenRequestError(f"{user.email} cannot have tokens (not an active person).")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise InvalidTokenRequestError(f"Expiry: 1 to {MAX_EXPIRY_DAYS} days, or none.")
    live = db.session.scalar(
        sa.select(sa.func.count()).select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    )  # fmt: skip
    if (live or 0) >= MAX_TOKENS_PER_USER:
        raise InvalidTokenRequestError(
            f"{user.email} has {MAX_TOKENS_PER_USER} tokens already; revoke one first."
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id, name=name, prefix=secret[:SHOWN_CHARS], token_hash=_hash(secret),
        scope=scope, user_epoch=user.session_epoch or 0, created_at=now,
        expires_at=now + dt.timedelta(days=expires_days) if expires_days else None,
    )  # fmt: skip
    db.session.add(token)
    db.session.flush()
    return NewToken(token, secret)


def is_usable(token: ApiToken, user: User, now: dt.datetime) -> bool:
    """Whether ``token`` still admits its owner (not revoked, expired or outlived)."""
    return (
        token.revoked_at is None
        and (token.expires_at is None or token.expires_at > now)
        and user.is_active
        and token.user_epoch == (user.session_epoch or 0)
    )


def authenticate(secret: str, *, address: str | None) -> ApiToken | None:
    """Return the usable token for ``secret`` with its user loaded, or None.

    One statement (the token joined to its user); a second one at most once a minute to
    note when and from where it was last used (the caller commits it).
    """
    if not _TOKEN.fullmatch(secret):
        return None
    token = db.session.scalar(
        sa.select(ApiToken).options(joinedload(ApiToken.user))
        .where(ApiToken.token_hash == _hash(secret))
    )  # fmt: skip
    now = utcnow()
    if token is None or not is_usable(token, token.user, now):
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        with audited_bulk():  # bookkeeping the audit trail leaves out
            db.session.execute(
                sa.update(ApiToken).where(ApiToken.id == token.id)
                .values(last_used_at=now, last_used_ip=(address or "")[:64] or None)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
    return token


def tokens_of(user: User) -> list[ApiToken]:
    """Return ``user``'s tokens, newest first (revoked ones too, for the record)."""
    return list(
        db.session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )  # fmt: skip


def revoke(token_id: int, *, owner: User | None = None) -> ApiToken:
    """Revoke a token (of ``owner`` only, when given); revoking twice changes nothing.

    :raises NotFoundError: there is no such token (of that owner).
    """
    token = db.session.get(ApiToken, token_id)
    if token is None or (owner is not None and token.user_id != owner.id):
        raise NotFoundError("There is no such token.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()
    return token


def status_of(token: ApiToken, user: User, now: dt.datetime) -> str:
    """Say what state a token is in: active, expired, revoked or ended (sessions ended)."""
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    if not is_usable(token, user, now):
        return "ended"
    return "active"
