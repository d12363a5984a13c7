"""The outbox and parked mail for admins, "send again", and received originals."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from supportdesk.audit.listeners import record_event
from supportdesk.db import db, parse_id, unit_of_work, utcnow
from supportdesk.errors import DomainError
from supportdesk.mail import inbound, service
from supportdesk.mail.models import (
    InboundMessage,
    InboundOutcome,
    MailDelivery,
    MailMessage,
    ParkReason,
)
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


# Received mail

REASON_LABELS = {
    ParkReason.BOUNCE: "bounce",
    ParkReason.AUTO_REPLY: "automatic reply",
    ParkReason.NEWSLETTER: "newsletter or list",
    ParkReason.OWN_MESSAGE: "the desk's own mail",
    ParkReason.STAFF: "staff by email",
    ParkReason.BLOCKED: "blocked customer",
    ParkReason.SENDER_LIMIT: "too many from one sender",
    ParkReason.TOO_BIG: "too big",
    ParkReason.UNPARSEABLE: "unreadable",
    ParkReason.NOT_MAIL: "not a mail message",
}
REASON_CHOICES = choices([("", "Any reason")] + [(r.value, REASON_LABELS[r]) for r in ParkReason])


class ParkedFilterForm(FlaskForm):
    """The parked list's filters (a GET form)."""

    class Meta:
        csrf = False

    reason = SelectField("Reason", choices=REASON_CHOICES, default="")
    before = HiddenField()


@bp.get("/parked")
@admin_required
def parked() -> ResponseReturnValue:
    """Received mail that made no ticket or reply, newest first, with the reason."""
    form = ParkedFilterForm(formdata=request.args)
    form.validate()
    reason = form.reason.data if "reason" not in form.errors else ""
    rows, next_before = inbound.parked_page(
        reason=ParkReason(reason) if reason else None,
        before=parse_id(form.before.data or ""), limit=PAGE,
    )  # fmt: skip
    return render_template("mail/parked.html", form=form, rows=rows, labels=REASON_LABELS,
                           reason=reason, next_before=next_before)  # fmt: skip


def _parked(message_id: int) -> InboundMessage:
    row = db.session.get(InboundMessage, message_id)
    if row is None or row.outcome != InboundOutcome.PARKED:
        abort(404, "There is no such parked message.")
    return row


@bp.post("/parked/<int:message_id>/ticket")
@admin_required
def parked_to_ticket(message_id: int) -> ResponseReturnValue:
    """Make a ticket of a parked message (whatever it was parked for)."""
    row = _parked(message_id)
    try:
        with unit_of_work():
            number = inbound.ticket_from_parked(row).number
    except DomainError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".parked"), 303)
    flash(f"SD-{number} was made from the parked message.", "success")
    return redirect(url_for("tickets.detail", number=number), 303)


@bp.post("/parked/<int:message_id>/delete")
@admin_required
def parked_delete(message_id: int) -> ResponseReturnValue:
    """Delete a parked message for good (audited)."""
    row = _parked(message_id)
    facts = {"sender": row.sender, "subject": row.subject, "reason": row.park_reason}
    with unit_of_work():
        record_event("mail.parked_deleted", entity=("inbound_mail", row.id), changes=facts)
        inbound.delete_parked(row)
    flash("The parked message was deleted.", "success")
    return redirect(url_for(".parked"), 303)


@bp.get("/received/<int:message_id>/original.eml")
def original(message_id: int) -> ResponseReturnValue:
    """Download a received message as it arrived (never shown inline).

    Any staff member for a message that became a ticket or reply; admins for parked ones.
    """
    row = db.session.execute(
        sa.select(InboundMessage.outcome, InboundMessage.raw).where(InboundMessage.id == message_id)
    ).one_or_none()
    if row is None or (row.outcome == InboundOutcome.PARKED and not current_user.is_admin):
        abort(404, "There is no such message.")
    return Response(row.raw, mimetype="message/rfc822", headers={
        "Content-Disposition": f'attachment; filename="original-{message_id}.eml"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    })  # fmt: skip
