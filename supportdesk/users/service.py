"""Staff account rules: creating users, checking passwords."""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import zoneinfo
from pathlib import Path

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from supportdesk.audit.listeners import record_event
from supportdesk.db import utcnow
from supportdesk.errors import ConflictError, DomainError
from supportdesk.extensions import db
from supportdesk.users import mfa
from supportdesk.users.models import User, UserRole

MIN_PASSWORD_LENGTH = 12
# Checked against when the email is unknown, so that both answers take as long.
_DUMMY_HASH = generate_password_hash("supportdesk-timing-equaliser")


class InvalidUserError(DomainError):
    """The account data breaks a rule (bad email, short password, …)."""


def staff_list() -> list[User]:
    """Return every staff account, active first, by name (the staff page, the API)."""
    return list(db.session.scalars(
        sa.select(User).order_by(User.is_active.desc(), sa.func.lower(User.full_name), User.id)
    ))  # fmt: skip


def normalise_email(email: str) -> str:
    """Trim an email address; comparison is case-insensitive in the database."""
    return email.strip()


def find_user_by_email(email: str) -> User | None:
    """Return the user with this email, ignoring case."""
    stmt = sa.select(User).where(sa.func.lower(User.email) == normalise_email(email).lower())
    return db.session.scalars(stmt).one_or_none()


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = (Path(__file__).parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


def check_password_policy(password: str) -> None:
    """Refuse passwords too short, too common or too uniform to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidUserError(f"The password must have at least {MIN_PASSWORD_LENGTH} characters.")
    if password.lower() in _common_passwords() or len(set(password)) < 4:
        raise InvalidUserError("That password is too common or too simple; choose another.")


def change_password(user: User, *, current: str, new: str) -> bool:
    """Change one's own password; every other session of the user ends.

    Returns False when ``current`` is wrong: the failure counts like a failed login (the
    same lock), and the caller commits it. While the account is locked nothing is tried.

    :raises InvalidUserError: the account is locked, or the new password is refused.
    """
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise InvalidUserError("Too many wrong passwords; wait a few minutes and try again.")
    if not check_password_hash(user.password_hash, current):
        _count_failure(user, now)
        return False
    if new == current:
        raise InvalidUserError("The new password must differ from the current one.")
    check_password_policy(new)
    user.password_hash = generate_password_hash(new)
    user.must_change_password = False
    user.failed_logins = 0
    end_sessions(user)
    return True


def confirm_password(user: User, password: str) -> bool:
    """Check ``user``'s password before a sensitive change (turning MFA off, say).

    A wrong one counts like a failed login; a locked account confirms nothing.
    """
    now = utcnow()
    if user.locked_at(now):
        return False
    if check_password_hash(user.password_hash, password):
        return True
    _count_failure(user, now)
    return False


def confirm_code(user: User, code: str) -> bool:
    """Check a code from ``user``'s app (or a recovery code) before a sensitive change.

    A wrong one counts like a failed login.
    """
    now = utcnow()
    if user.locked_at(now):
        return False
    if mfa.verify(user, code) is not None:
        return True
    _count_failure(user, now)
    return False


def reset_password(user: User) -> str:
    """Give ``user`` a temporary password (returned once) to change at next login."""
    temporary = secrets.token_urlsafe(12)
    user.password_hash = generate_password_hash(temporary)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(user)
    return temporary


def create_user(
    email: str, *, full_name: str, password: str, role: UserRole = UserRole.AGENT
) -> User:
    """Create a staff account.

    :raises InvalidUserError: the email or password is not acceptable.
    :raises ConflictError: an account with this email (in any case) exists.
    """
    email = normalise_email(email)
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise InvalidUserError(f"{email!r} is not an email address.")
    full_name = full_name.strip()
    if not full_name or len(full_name) > 120:
        raise InvalidUserError("The name must have 1 to 120 characters.")
    check_password_policy(password)
    if find_user_by_email(email) is not None:
        raise ConflictError(f"A user with the email {email} already exists.")
    user = User(
        email=email,
        full_name=full_name,
        password_hash=generate_password_hash(password),
        role=role,
        is_active=True,
    )
    db.session.add(user)
    db.session.flush()
    return user


def end_sessions(user: User) -> None:
    """Invalidate every session cookie issued to ``user`` so far."""
    user.session_epoch = (user.session_epoch or 0) + 1
    db.session.flush()


def authenticate(email: str, password: str, *, known_device_user: int | None = None
                 ) -> User | None:  # fmt: skip
    """Return the active user whose email and password match, else ``None``.

    Unknown emails cost one password check too, so timing does not tell which exist.
    After :data:`LOCK_AFTER` failures in a row an account is locked for a delay that
    doubles with each further failure (30 s up to 15 min); a locked account refuses even
    the right password until the delay is over. The answer never says which happened.

    ``known_device_user``: the user whose device cookie the browser holds. For that
    user the lock does not apply and their own typos are not counted: strangers'
    failures cannot keep the owner out of their known device (the per-client rate
    limits still bound guessing with a stolen cookie).
    """
    user = find_user_by_email(email)
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    now = utcnow()
    matches = check_password_hash(user.password_hash, password)
    known = known_device_user is not None and known_device_user == user.id
    if not known and user.locked_at(now):
        return None
    if not matches or not user.is_active:
        if not known:
            _count_failure(user, now)
        return None
    if not user.has_mfa:
        finish_login(user)
    # With MFA the failures are forgotten only after the second step: a stolen password
    # must not reset the count of wrong codes before every new batch of guesses.
    return user


def finish_login(user: User) -> None:
    """Record a complete login (password and, if enrolled, the second step)."""
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = utcnow()


def check_second_step(user: User, code: str, *, known_device: bool) -> str | None:
    """Check the login's second step: ``"totp"`` or ``"recovery"`` if ``code`` is good.

    Wrong codes count towards the same lock as wrong passwords (and a locked account
    accepts no code), except from the user's known device, as for passwords.
    """
    now = utcnow()
    # Locked and re-read: two requests with the same code cannot both see it unused.
    db.session.refresh(user, with_for_update=True)
    if not known_device and user.locked_at(now):
        return None
    method = mfa.verify(user, code) if user.is_active else None
    if method is None:
        if not known_device:
            _count_failure(user, now)
        return None
    finish_login(user)
    return method


def _count_failure(user: User, now: dt.datetime) -> None:
    """Count a wrong password; from LOCK_AFTER in a row on, lock for a doubling delay."""
    user.failed_logins = (user.failed_logins or 0) + 1
    if user.failed_logins >= LOCK_AFTER:
        doublings = min(user.failed_logins - LOCK_AFTER, 10)  # 2**10 × 30 s > the cap
        user.locked_until = now + min(LOCK_BASE * 2**doublings, LOCK_MAX)


LOCK_AFTER = 5
LOCK_BASE = dt.timedelta(seconds=30)
LOCK_MAX = dt.timedelta(minutes=15)


# Account lifecycle (admins, in the staff page and `flask users`); audited by the
# listener (role, is_active) or as events (unlock, whose columns the trail leaves out).


def _active_admins() -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(User)
        .where(User.role == UserRole.ADMIN, User.is_active.is_(True))
    ) or 0  # fmt: skip


def set_active(user: User, active: bool, *, actor: User | None) -> bool:
    """Activate or deactivate ``user``; return whether it changed.

    Deactivating ends every session of theirs at once.

    :raises InvalidUserError: one's own account, the last active admin, or the desk's own
        system account.
    """
    if user.is_active == active:
        return False
    if user.is_system:
        raise InvalidUserError(f"{user.email} is the desk's own account; it stays as it is.")
    if not active and actor is not None and actor.id == user.id:
        raise InvalidUserError("You cannot deactivate your own account.")
    if not active and user.is_admin and _active_admins() <= 1:
        raise InvalidUserError("This is the last active admin; make another admin first.")
    user.is_active = active
    if not active:
        end_sessions(user)
    db.session.flush()
    return True


def set_role(user: User, role: UserRole, *, actor: User | None) -> bool:
    """Give ``user`` another role; return whether it changed.

    :raises InvalidUserError: it would leave no active admin, or a system account.
    """
    role = UserRole(role)
    if user.role == role:
        return False
    if user.is_system:
        raise InvalidUserError(f"{user.email} is the desk's own account; it stays as it is.")
    if user.is_admin and user.is_active and _active_admins() <= 1:
        raise InvalidUserError("This is the last active admin; make another admin first.")
    user.role = role
    end_sessions(user)  # what they may do changed: they log in again
    db.session.flush()
    return True


def unlock(user: User) -> bool:
    """Lift a lock from failed passwords and forget the failures; return whether locked."""
    was_locked = user.locked_at(utcnow()) or bool(user.failed_logins)
    user.failed_logins = 0
    user.locked_until = None
    db.session.flush()
    return was_locked


def reset_mfa(user: User) -> bool:
    """Reset a lost second factor (an admin's action); return whether MFA was on.

    Audited as ``user.mfa_reset``. Every session of the user ends (the lost phone may be
    with someone holding a session) and browsers trusted for the old enrolment are
    trusted no more. If their role requires MFA they set it up again right after their
    next password login.
    """
    was_on = mfa.disable(user)
    if was_on:
        end_sessions(user)
        record_event("user.mfa_reset", entity=user)
    return was_on


@functools.cache
def time_zones() -> tuple[str, ...]:
    """Every IANA time zone this machine knows, sorted (the profile's choices)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def update_profile(user: User, *, full_name: str, time_zone: str | None) -> bool:
    """Change one's name and time zone; return whether anything changed.

    :raises InvalidUserError: an empty or over-long name, or an unknown time zone.
    """
    name = " ".join(full_name.split())
    if not name or len(name) > 120:
        raise InvalidUserError("Give a name of 1 to 120 characters.")
    if time_zone and time_zone not in time_zones():
        raise InvalidUserError(f"{time_zone} is not a time zone this desk knows.")
    changed = (name, time_zone or None) != (user.full_name, user.time_zone)
    user.full_name, user.time_zone = name, time_zone or None
    db.session.flush()
    return changed
