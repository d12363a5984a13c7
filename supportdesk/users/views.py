"""Staff administration pages (admins only)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from supportdesk.audit.listeners import record_event
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.policy import admin_required
from supportdesk.users import service
from supportdesk.users.models import User

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
    page = render_template("users/index.html", users=_users(),
                           reset=(user.email, temporary))  # fmt: skip
    return page, 200, {"Cache-Control": "no-store"}


@bp.get("/")
@admin_required
def index() -> str:
    """List staff accounts, active first."""
    return render_template("users/index.html", users=_users(), reset=None)


def _users() -> list[User]:
    return list(db.session.scalars(
        sa.select(User).order_by(User.is_active.desc(), sa.func.lower(User.full_name))
    ))  # fmt: skip
