"""The audit log for admins: filter, page, export as CSV, seal."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, NumberRange, Optional

from supportdesk.audit import queries
from supportdesk.audit.service import seal_log
from supportdesk.csvexport import stream_csv
from supportdesk.db import parse_id, unit_of_work
from supportdesk.fields import DayField
from supportdesk.policy import admin_required
from supportdesk.replicas import from_replica, reading_replica
from supportdesk.users.service import staff_list

bp = Blueprint("audit", __name__, url_prefix="/audit")
ID_MAX = 2**62  # larger numbers are no id, and overflow SQLite's integers

CSV_COLUMNS = (
    "id", "occurred_at", "actor_id", "actor_label", "source", "action", "entity_type",
    "entity_id", "ticket_id", "changes", "request_id", "remote_addr",
    "actor_type",  # added later: appended, so that scripts reading by position keep working
)  # fmt: skip


def optional_id(value: Any) -> int | None:
    """Coerce the actor picker's value: empty is no filter; anything else must be a number."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, int):
        return value
    number = parse_id(str(value))
    if number is None:
        raise ValueError("Choose a person from the list.")
    return number


class AuditFilterForm(FlaskForm):
    """Query-string filters of the audit list."""

    class Meta:
        csrf = False

    # A name picker (the staff, by name); the value is the user id, as in older links.
    actor = SelectField(
        "Who",
        coerce=optional_id,
        validate_choice=False,
        validators=[Optional(), NumberRange(min=1, max=ID_MAX)],
    )
    action = StringField("Action", validators=[Optional(), Length(max=64)])
    entity_type = StringField("Entity type", validators=[Optional(), Length(max=64)])
    entity_id = IntegerField("Entity id", validators=[Optional(), NumberRange(min=0, max=ID_MAX)])
    ticket = IntegerField("Ticket id", validators=[Optional(), NumberRange(min=1, max=ID_MAX)])
    request_id = StringField("Request id", validators=[Optional(), Length(max=64)])
    since = DayField("From", validators=[Optional()])
    until = DayField("To", validators=[Optional()])
    before = IntegerField(validators=[Optional(), NumberRange(min=1, max=ID_MAX)])


def _filters() -> tuple[AuditFilterForm, queries.AuditFilters, list[str]]:
    form = AuditFilterForm(formdata=request.args)
    form.actor.choices = [SelectChoice("", "Anyone")] + [
        SelectChoice(u.id, f"{u.full_name} ({u.email})") for u in staff_list()
    ]
    form.validate()
    problems = [f"{getattr(form, n).label.text}: {e[0]} The filter was ignored."
                for n, e in form.errors.items()]  # fmt: skip
    ok = {name: name not in form.errors for name in form.data}

    def value(name: str) -> Any:
        return getattr(form, name).data if ok[name] else None

    filters = queries.AuditFilters(
        actor_id=value("actor"), action=value("action") or "",
        entity_type=value("entity_type") or "", entity_id=value("entity_id"),
        ticket_id=value("ticket"), request_id=value("request_id") or "",
        since=value("since"), until=value("until"),
    )  # fmt: skip
    return form, filters, problems


def _args(form: AuditFilterForm) -> dict[str, object]:
    return {
        name: (v.isoformat() if hasattr(v, "isoformat") else v)
        for name, v in form.data.items()
        if v not in (None, "") and name != "before"
    }


@bp.get("/")
@admin_required
def index() -> ResponseReturnValue:
    """List audit entries, newest first, 50 a page."""
    form, filters, problems = _filters()
    before = form.before.data if "before" not in form.errors else None
    with reading_replica():  # history: seconds of lag change nothing an admin decides
        entries, next_before = queries.page(filters, before_id=before)
        names = queries.references(entries)
    return render_template("audit/index.html", form=form, entries=entries, problems=problems,
                           next_before=next_before, args=_args(form),
                           change_lines=queries.change_lines, names=names)  # fmt: skip


@bp.get("/export.csv")
@admin_required
def export() -> ResponseReturnValue:
    """Stream the filtered log as CSV, in constant memory."""
    _, filters, _ = _filters()

    rows = from_replica(queries.export(filters, CSV_COLUMNS))
    headers = {"Content-Disposition": 'attachment; filename="audit.csv"',
               "Cache-Control": "no-store"}  # fmt: skip
    # stream_with_context: the rows are read while the response is sent, after the view
    # returned; without it every export under gunicorn failed ("outside of application
    # context"); the test client keeps the context open, so only a real server showed it.
    return Response(stream_with_context(stream_csv(CSV_COLUMNS, rows)), mimetype="text/csv",
                    headers=headers)  # fmt: skip


@bp.post("/seal")
@admin_required
def seal() -> ResponseReturnValue:
    """Seal the log now (cron runs ``flask audit seal`` too)."""
    with unit_of_work():
        new = seal_log()
    if new is None:
        flash("Nothing to seal: every entry older than five minutes is sealed already.", "info")
    else:
        flash(f"Sealed {new.row_count} entries (up to #{new.last_log_id}).", "success")
    return redirect(url_for(".index"), code=303)
