"""Staff administration pages (admins only)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template

from supportdesk.auth.policy import admin_required
from supportdesk.extensions import db
from supportdesk.users.models import User

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/")
@admin_required
def index() -> str:
    """List staff accounts, active first."""
    users = db.session.scalars(
        sa.select(User).order_by(User.is_active.desc(), sa.func.lower(User.full_name))
    ).all()
    return render_template("users/index.html", users=users)
