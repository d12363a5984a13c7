"""``GET /reports/``: the managers' page (staff)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import Optional, Regexp

from supportdesk.db import utcnow
from supportdesk.fields import DayField
from supportdesk.replicas import reading_replica
from supportdesk.reports import charts
from supportdesk.reports.queries import ReportScope, build_report
from supportdesk.tickets.forms import choices, optional_int
from supportdesk.tickets.models import sla_hours
from supportdesk.tickets.queries import filter_options

bp = Blueprint("reports", __name__, url_prefix="/reports")
DEFAULT_DAYS = 30
MAX_DAYS = 366


class ReportForm(FlaskForm):
    """The page's query-string filters; an invalid one is reported and ignored."""

    class Meta:
        csrf = False  # a GET form: a report is a bookmarkable URL

    date_from = DayField("From", validators=[Optional()])
    date_to = DayField("To", validators=[Optional()])
    tag = SelectField("Tag", coerce=optional_int, validators=[Optional()])
    assignee = StringField(
        "Assignee",
        validators=[Optional(), Regexp(r"(none|\d{1,9})\Z", message="Choose a person or “none”.")],
    )


@bp.get("/")
def index() -> ResponseReturnValue:
    """Show counts, trends, resolution times, SLA breaches and weekly ranks for a range."""
    options = filter_options()
    form = ReportForm(formdata=request.args)
    form.tag.choices = choices([("", "Any tag"), *((o.id, o.label) for o in options.tags)])
    form.validate()
    problems = [
        f"{getattr(form, name).label.text}: {errors[0]} It was ignored."
        for name, errors in form.errors.items()
    ]
    scope = _scope(form, problems)
    with reading_replica():  # figures may lag a replica by seconds; nobody just wrote them
        report = build_report(scope)
    created, resolved = report.created_per_day, report.resolved_per_day
    return render_template(
        "reports/index.html",
        form=form,
        options=options,
        problems=problems,
        report=report,
        backlog_chart=charts.line_chart(report.backlog_per_day),
        flow_chart=charts.bar_chart(created, resolved),
        sla=sla_hours(),
    )


def _scope(form: ReportForm, problems: list[str]) -> ReportScope:
    today = utcnow().date()
    end = form.date_to.data if "date_to" not in form.errors and form.date_to.data else today
    start = (
        form.date_from.data
        if "date_from" not in form.errors and form.date_from.data
        else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    )
    if start > end:
        problems.append("The range ended before it started; the dates were swapped.")
        start, end = end, start
    if (end - start).days + 1 > MAX_DAYS:
        problems.append(f"A report covers at most {MAX_DAYS} days; the range was shortened.")
        start = end - dt.timedelta(days=MAX_DAYS - 1)
    form.date_from.data, form.date_to.data = start, end
    tag = form.tag.data if "tag" not in form.errors else None
    assignee = (form.assignee.data or "").strip() if "assignee" not in form.errors else ""
    return ReportScope(start=start, end=end, tag_id=tag, assignee=assignee)
