"""``flask users``: list, deactivate, reactivate, unlock, reset MFA, set a role (audited)."""

from __future__ import annotations

from collections.abc import Callable

import click

from supportdesk.audit.context import acting_as
from supportdesk.audit.listeners import record_event
from supportdesk.db import unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.users import service
from supportdesk.users.models import User, UserRole

group = click.Group(
    "users", help="Staff accounts: list, deactivate, reactivate, unlock, reset MFA, role."
)


@group.command("list")
def list_command() -> None:
    """Every account: email, name, role, state (locked, failed passwords), last login."""
    now = utcnow()
    users = db.session.scalars(db.select(User).order_by(User.is_active.desc(), User.email))
    for user in users:
        state = "active" if user.is_active else "inactive"
        if user.locked_at(now) and user.locked_until is not None:
            state += f", locked until {user.locked_until:%Y-%m-%d %H:%M} UTC"
        elif user.failed_logins:
            state += f", {user.failed_logins} failed password(s)"
        state += ", mfa on" if user.has_mfa else ""
        last = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        click.echo(f"{user.email}\t{user.full_name}\t{user.role.value}\t{state}\tlast login {last}")


def _change(email: str, change: Callable[[User], bool], done: str, label: str) -> None:
    user = service.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"No account has the address {email}.")
    try:
        with acting_as(f"cli:users-{label}"), unit_of_work():
            changed = change(user)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{email}: {done}." if changed else f"{email}: nothing to do.")


@group.command("deactivate")
@click.argument("email")
def deactivate_command(email: str) -> None:
    """No more logins for EMAIL; every session of theirs ends now."""
    _change(email, lambda u: service.set_active(u, False, actor=None),
            "deactivated, logged out everywhere", "deactivate")  # fmt: skip


@group.command("reactivate")
@click.argument("email")
def reactivate_command(email: str) -> None:
    """Let EMAIL log in again."""
    _change(email, lambda u: service.set_active(u, True, actor=None), "active again",
            "reactivate")  # fmt: skip


@group.command("unlock")
@click.argument("email")
def unlock_command(email: str) -> None:
    """Lift the lock that failed passwords put on EMAIL."""

    def lift(user: User) -> bool:
        locked = service.unlock(user)
        record_event("user.unlocked", entity=user)
        return locked

    _change(email, lift, "unlocked", "unlock")


@group.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in UserRole]))
def set_role_command(email: str, role: str) -> None:
    """Make EMAIL an agent or an admin (their sessions end: they log in again)."""
    _change(email, lambda u: service.set_role(u, UserRole(role), actor=None), f"now {role}",
            "set-role")  # fmt: skip


@group.command("reset-mfa")
@click.argument("email")
def reset_mfa_command(email: str) -> None:
    """Turn off EMAIL's two-step login (a lost phone); their sessions end."""
    _change(email, service.reset_mfa, "two-step login reset, logged out everywhere", "reset-mfa")
