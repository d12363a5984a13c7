"""Staff administration pages (admins only)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from supportdesk.audit.listeners import record_event
from supportdesk.db import unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.policy import admin_required
from supportdesk.users import service
from supportdesk.users.models import User, UserRole

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.post("/<int:user_id>/reset-password")
@admin_required
def reset_password(user_id: int) -> ResponseReturnValue:
    """Give a user a temporary password, shown once, to change at next login."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, "There is no such user.")
    with unit_of_work():
        temporary = service.reset_password(user)
        record_event("user.password_reset", entity=user)
    # Shown in this response only: a flash would carry it in the session cookie, which is
    # signed, not encrypted (#18, 14). Not cached, not stored anywhere on the client.
    page = render_template("users/index.html", users=service.staff_list(),
                           reset=(user.email, temporary), now=utcnow(),
                           roles=list(UserRole))  # fmt: skip
    return page, 200, {"Cache-Control": "no-store"}


@bp.get("/")
@admin_required
def index() -> str:
    """List staff accounts, active first."""
    return render_template("users/index.html", users=service.staff_list(), reset=None,
                           now=utcnow(), roles=list(UserRole))  # fmt: skip


class RoleForm(FlaskForm):
    """The role picked on the staff page."""

    role = SelectField("Role", choices=[SelectChoice(r.value, r.value) for r in UserRole])


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404, "There is no such user.")
    return user


def _lifecycle(user_id: int, change: Callable[[User], bool], done: str) -> ResponseReturnValue:
    """Apply one account change (the service's rules; audited); say what happened."""
    user = _user(user_id)
    try:
        with unit_of_work():
            changed = change(user)
    except DomainError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{user.full_name}: {done}." if changed else f"{user.full_name}: nothing to do.",
              "success" if changed else "info")  # fmt: skip
    return redirect(url_for(".index"), code=303)


@bp.post("/<int:user_id>/deactivate")
@admin_required
def deactivate(user_id: int) -> ResponseReturnValue:
    """Deactivate an account: no login, every session ended."""
    actor = current_user._get_current_object()
    return _lifecycle(user_id, lambda u: service.set_active(u, False, actor=actor),
                      "deactivated, logged out everywhere")  # fmt: skip


@bp.post("/<int:user_id>/reactivate")
@admin_required
def reactivate(user_id: int) -> ResponseReturnValue:
    """Let a deactivated account log in again."""
    actor = current_user._get_current_object()
    return _lifecycle(user_id, lambda u: service.set_active(u, True, actor=actor), "active again")


@bp.post("/<int:user_id>/role")
@admin_required
def change_role(user_id: int) -> ResponseReturnValue:
    """Make an agent an admin or the other way round."""
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400, "Choose agent or admin.")
    role, actor = UserRole(form.role.data), current_user._get_current_object()
    return _lifecycle(user_id, lambda u: service.set_role(u, role, actor=actor),
                      f"now {role.value}")  # fmt: skip


@bp.post("/<int:user_id>/unlock")
@admin_required
def unlock(user_id: int) -> ResponseReturnValue:
    """Lift a lock that failed passwords put on an account (audited user.unlocked)."""

    def lift(user: User) -> bool:
        locked = service.unlock(user)
        record_event("user.unlocked", entity=user)
        return locked

    return _lifecycle(user_id, lift, "unlocked")


@bp.post("/<int:user_id>/reset-mfa")
@admin_required
def reset_mfa(user_id: int) -> ResponseReturnValue:
    """Reset a user's two-step login (a lost phone): audited user.mfa_reset."""
    return _lifecycle(user_id, service.reset_mfa,
                      "two-step login reset; they set it up again at next login")  # fmt: skip
