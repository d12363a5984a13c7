"""The outbox for admins, and "send again" for a failed message."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from supportdesk.db import db, parse_id, unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.mail import service
from supportdesk.mail.models import MailDelivery, MailMessage
from supportdesk.policy import admin_required
from supportdesk.tickets.forms import choices
from supportdesk.tickets.models import Ticket
from supportdesk.worker import DeliveryState

bp = Blueprint("mail", __name__, url_prefix="/mail")
PAGE = 50
SENT_DAYS = 7
STATE_CHOICES = choices(
    [("", "Any (sent: last 7 days)")] + [(s.value, s.value) for s in DeliveryState]
)


class OutboxFilterForm(FlaskForm):
    """The outbox's filters (a GET form)."""

    class Meta:
        csrf = False

    state = SelectField("State", choices=STATE_CHOICES, default="")
    recipient = StringField("Recipient contains", validators=[Optional(), Length(max=254)])
    before = HiddenField()


@bp.get("/outbox")
@admin_required
def outbox() -> ResponseReturnValue:
    """Every delivery, newest first: queued, retrying, failed, and sent in the last week."""
    form = OutboxFilterForm(formdata=request.args)
    form.validate()
    stmt = (
        sa.select(MailDelivery, MailMessage.subject, Ticket.number)
        .join(MailMessage, MailMessage.id == MailDelivery.mail_id)
        .join(Ticket, Ticket.id == MailMessage.ticket_id)
        .order_by(MailDelivery.id.desc())
        .limit(PAGE + 1)
    )
    state = form.state.data if "state" not in form.errors else ""
    if state:
        stmt = stmt.where(MailDelivery.state == state)
    else:  # what is done and older than a week is history, not work
        week = utcnow() - dt.timedelta(days=SENT_DAYS)
        done = MailDelivery.state.in_([DeliveryState.SENT, DeliveryState.WRITTEN])
        stmt = stmt.where(sa.or_(~done, MailDelivery.done_at >= week))
    recipient = (form.recipient.data or "").strip().lower()
    if recipient and "recipient" not in form.errors:
        escaped = recipient.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(sa.func.lower(MailDelivery.recipient).like(f"%{escaped}%", escape="\\"))
    before = parse_id(form.before.data or "")
    if before is not None:
        stmt = stmt.where(MailDelivery.id < before)
    rows = db.session.execute(stmt).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    counts = dict(db.session.execute(
        sa.select(MailDelivery.state, sa.func.count()).group_by(MailDelivery.state)
    ).all())  # fmt: skip
    args = {k: v for k, v in (("state", state), ("recipient", recipient)) if v}
    return render_template("mail/outbox.html", form=form, rows=rows, counts=counts,
                           states=list(DeliveryState), args=args,
                           next_before=rows[-1][0].id if more and rows else None)  # fmt: skip


def _delivery(delivery_id: int) -> MailDelivery:
    delivery = db.session.get(MailDelivery, delivery_id)
    if delivery is None:
        abort(404, "There is no such message.")
    return delivery


def _back(delivery: MailDelivery) -> str:
    target = request.form.get("next", "")
    if target == "outbox":
        return url_for(".outbox")
    number = db.session.scalar(
        sa.select(Ticket.number).join(MailMessage, MailMessage.ticket_id == Ticket.id)
        .where(MailMessage.id == delivery.mail_id)
    )  # fmt: skip
    return url_for("tickets.detail", number=number)


def _act(delivery_id: int, action: Callable[[MailDelivery], None], done: str
         ) -> ResponseReturnValue:  # fmt: skip
    delivery = _delivery(delivery_id)
    back, recipient = _back(delivery), delivery.recipient
    try:
        with unit_of_work():
            action(delivery)
    except DomainError as exc:
        flash(str(exc), "error")
    else:
        flash(f"The message to {recipient} {done}.", "success")
    return redirect(back, 303)


@bp.post("/deliveries/<int:delivery_id>/retry")
def retry(delivery_id: int) -> ResponseReturnValue:
    """Send a failed (or cancelled) message again."""
    return _act(delivery_id, service.retry_delivery, "is queued again")


@bp.post("/deliveries/<int:delivery_id>/cancel")
@admin_required
def cancel(delivery_id: int) -> ResponseReturnValue:
    """Stop a queued or retrying message (admins)."""
    return _act(delivery_id, service.cancel_delivery, "was cancelled")
