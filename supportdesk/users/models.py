"""Staff accounts."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.audit.auditable import Auditable
from supportdesk.db import Base, TimestampMixin, string_enum, utcnow
from supportdesk.worker import Queued


class UserRole(enum.StrEnum):
    """What a staff member may do: agents work tickets, admins also manage the desk."""

    AGENT = "agent"
    ADMIN = "admin"


class User(Auditable, TimestampMixin, UserMixin, Base):
    """A staff member who logs in to the desk."""

    __audit_name__ = "user"
    # Login bookkeeping is recorded by the user.login / user.login_failed events instead.
    __audit_exclude__ = frozenset(
        {"updated_at", "last_login_at", "session_epoch", "failed_logins", "locked_until",
         "mfa_last_step", "mfa_enabled_at"}
    )  # fmt: skip
    # MFA changes are also recorded as events (user.mfa_enabled, user.mfa_reset, …).
    __audit_secrets__ = {"password_hash": "password", "mfa_secret": "mfa"}  # nosec B105

    __tablename__ = "users"
    __table_args__ = (
        # Case-insensitive uniqueness: Ana@x.org and ana@x.org are one account.
        sa.Index("uq_users_email_lower", sa.func.lower(sa.column("email")), unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254))
    full_name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    role: Mapped[UserRole] = mapped_column(
        string_enum(UserRole, "user_role", 16),
        default=UserRole.AGENT,
    )
    last_login_at: Mapped[dt.datetime | None]
    # Bumped to end every session of the user at once (logout, deactivation): a session
    # cookie carries the epoch it was issued in and is refused once it differs.
    session_epoch: Mapped[int] = mapped_column(default=0, server_default="0")
    # Brute-force protection, counted in the database so every worker and host agrees.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    locked_until: Mapped[dt.datetime | None]
    # MFA (TOTP, RFC 6238): the shared secret (base32) once enrolled, when, and the last
    # time step a code was accepted for (a code is good once: no replay within its window).
    mfa_secret: Mapped[str | None] = mapped_column(sa.String(64))
    mfa_enabled_at: Mapped[dt.datetime | None]
    mfa_last_step: Mapped[int | None] = mapped_column(sa.BigInteger)
    # An IANA zone ("Europe/Berlin") for the times pages show this person; None: UTC.
    time_zone: Mapped[str | None] = mapped_column(sa.String(64))

    @property
    def is_admin(self) -> bool:
        """Whether this user may use admin-only pages."""
        return self.role == UserRole.ADMIN

    @property
    def is_system(self) -> bool:
        """Whether the desk itself uses this account (never a person, never made active).

        Such accounts live on the reserved ``.invalid`` domain (RFC 2606).
        """
        return self.email.lower().endswith(".invalid")

    @property
    def has_mfa(self) -> bool:
        """Whether a second factor is needed after the password."""
        return self.mfa_secret is not None

    def locked_at(self, now: dt.datetime) -> bool:
        """Whether failed passwords lock the account at ``now``."""
        return self.locked_until is not None and self.locked_until > now

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class RecoveryCode(Base):
    """One of a user's ten single-use MFA recovery codes, kept as a SHA-256 hash.

    A code has 60 random bits, so a plain hash is enough (no slow KDF needed): nobody can
    try 2**60 guesses against a leaked table.
    """

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    used_at: Mapped[dt.datetime | None]


class PasswordReset(Queued, Base):
    """A "forgot password" request: a single-use link, mailed by the worker.

    The link's token is ``HMAC(secret key, nonce)``: the database holds the
    nonce and the token's SHA-256, never the token, so a copy of the database (a backup,
    a replica) cannot reset anyone's password; the worker, which has the secret key,
    rebuilds the token to mail it.
    """

    __tablename__ = "password_resets"
    __table_args__ = (
        sa.UniqueConstraint("token_hash"),
        sa.Index("ix_password_resets_due", "state", "next_attempt_at"),
        sa.Index("ix_password_resets_user_id", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(sa.String(64))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    requested_from: Mapped[str | None] = mapped_column(sa.String(64))


class TokenScope(enum.StrEnum):
    """What a personal access token may do: read, also write, also admin-only reads."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class ApiToken(Auditable, Base):
    """A personal access token for the API, stored as its SHA-256 (never retrievable).

    A token of 256 random bits needs no slow hash: nobody can try 2**256 guesses against
    a leaked table. ``user_epoch`` is the owner's session epoch when it was made: ending
    the owner's sessions (a password change, an admin's "log out everywhere") or
    deactivating the account ends the owner's tokens too.
    """

    __audit_name__ = "api_token"
    __audit_exclude__ = frozenset({"last_used_at", "last_used_ip"})
    __audit_secrets__ = {"token_hash": "token"}  # nosec B105

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.UniqueConstraint("token_hash"),
        sa.Index("ix_api_tokens_user_id", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(80))
    # The first characters of the token (``sd_Ab3dE``), shown so its owner can tell
    # tokens apart; too short to guess the rest from.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    scope: Mapped[TokenScope] = mapped_column(string_enum(TokenScope, "token_scope", 8))
    user_epoch: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]
    last_used_ip: Mapped[str | None] = mapped_column(sa.String(64))

    user: Mapped[User] = relationship(lazy="raise")

    def allows(self, scope: TokenScope) -> bool:
        """Whether this token's scope includes ``scope`` (admin > write > read)."""
        order = list(TokenScope)
        return order.index(self.scope) >= order.index(scope)
