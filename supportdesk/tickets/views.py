"""Ticket pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from supportdesk.tickets import queries

bp = Blueprint("tickets", __name__, url_prefix="/tickets")


@bp.get("/")
def index() -> str:
    """List the newest tickets."""
    return render_template("tickets/index.html", tickets=queries.newest_tickets())
