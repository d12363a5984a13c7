"""``GET /reports/``: the managers' page (staff)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Optional, Regexp

from supportdesk.db import utcnow
from supportdesk.fields import DayField
from supportdesk.replicas import last_write_at
from supportdesk.reports import charts
from supportdesk.reports.queries import ReportScope
from supportdesk.reports.snapshots import DEFAULT_DAYS, report_for
from supportdesk.tickets.forms import choices, optional_int
from supportdesk.tickets.models import sla_hours
from supportdesk.tickets.queries import filter_options

bp = Blueprint("reports", __name__, url_prefix="/reports")
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
    recompute = BooleanField("Recompute now")  # the freshness line's link


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
    max_age_s = current_app.config["REPORTS_MAX_AGE_S"]
    # Figures computed before this user's last write (a ticket resolved, say) are not
    # shared with them: they see what they wrote counted.
    since = dt.datetime.fromtimestamp(last_write_at(), dt.UTC)
    shared = report_for(scope, max_age_s=max_age_s, recompute=bool(form.recompute.data),
                        not_before=since)  # fmt: skip
    plain_args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "recompute"}
    if form.recompute.data and not problems:
        # Computed and stored: back to the plain URL, so a bookmark or a reload shares
        # the figures again instead of recomputing them each time.
        return redirect(url_for(".index", **plain_args), code=303)
    report = shared.report
    created, resolved = report.created_per_day, report.resolved_per_day
    return render_template(
        "reports/index.html",
        form=form,
        options=options,
        problems=problems,
        report=report,
        shared=shared,
        max_age_s=max_age_s,
        age_s=max(int((utcnow() - shared.computed_at).total_seconds()), 0),
        recompute_args=plain_args,
        backlog_chart=charts.line_chart(report.backlog_per_day),
        flow_chart=charts.bar_chart(created, resolved),
        duration=charts.duration_label,
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
