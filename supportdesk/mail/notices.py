"""Notices to a staff member by email (a webhook disabled, say), mailed by the worker.

A notice is recorded in the transaction that decided it and mailed by a queue of its
own (the ticket outbox belongs to tickets), ``Auto-Submitted: auto-generated``.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Mapped, mapped_column

from supportdesk import worker
from supportdesk.db import Base, utcnow
from supportdesk.extensions import db
from supportdesk.mail import compose, transport
from supportdesk.mail.service import outbox_dir
from supportdesk.users.models import User


class StaffNotice(worker.Queued, Base):
    """One email to one staff member."""

    __tablename__ = "staff_notices"
    __table_args__ = (sa.Index("ix_staff_notices_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)  # fmt: skip
    subject: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def init_app(app: Flask) -> None:
    """Give the worker the notices queue (idempotent)."""
    worker.register(
        worker.QueueSpec(
            name="staff_notice", model=StaffNotice, deliver=deliver,
            max_attempts=lambda: int(current_app.config["MAIL_MAX_ATTEMPTS"]),
            first_delay_seconds=lambda: float(current_app.config["MAIL_RETRY_SECONDS"]),
        )
    )  # fmt: skip


def queue_notice(user_id: int, *, subject: str, body: str) -> StaffNotice:
    """Record a notice to ``user_id`` in the caller's transaction."""
    notice = StaffNotice(user_id=user_id, subject=subject[:200], body=body)
    db.session.add(notice)
    db.session.flush()
    return notice


def deliver(notice_id: int) -> worker.DeliveryState:
    """Mail notice ``notice_id`` (the worker, outside any writing transaction)."""
    row = db.session.execute(
        sa.select(StaffNotice, User).join(User, User.id == StaffNotice.user_id)
        .where(StaffNotice.id == notice_id)
    ).one_or_none()  # fmt: skip
    if row is None:
        raise worker.PermanentFailure("the account no longer exists")
    notice, user = row
    if not user.is_active:
        raise worker.PermanentFailure("the account is deactivated")
    return mail_staff(
        user,
        subject=notice.subject,
        text=f"Hello {user.full_name},\n\n{notice.body}\n",
        reference="notice",
        name=f"{notice.created_at:%Y%m%d-%H%M%S}-notice-{notice.id}",
    )


def mail_staff(user: User, *, subject: str, text: str, reference: str, name: str
               ) -> worker.DeliveryState:  # fmt: skip
    """Send an automatic message from the desk to a staff member (the worker only).

    ``Auto-Submitted: auto-generated`` (RFC 3834: no auto-replies to it); without an
    SMTP server it is written to the outbox folder as ``name``.eml.

    :raises worker.TemporaryFailure: try again later.
    :raises worker.PermanentFailure: the server refused for good.
    """
    config = current_app.config
    desk = compose.parse_desk_address(config["MAIL_FROM"])
    message = EmailMessage()
    message["From"] = formataddr((desk.display_name, desk.addr_spec))
    message["To"] = formataddr((compose.header_text(user.full_name), user.email))
    message["Subject"] = compose.header_text(subject)
    message["Date"] = format_datetime(utcnow())
    domain = compose.mail_domain(config["MAIL_FROM"], config["MAIL_DOMAIN"])
    message["Message-ID"] = compose.new_message_id(reference, domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    return transport.send(
        message.as_bytes(), sender=desk.addr_spec, recipient=user.email,
        smtp_url=config["SMTP_URL"], timeout=config["SMTP_TIMEOUT_SECONDS"],
        outbox_dir=outbox_dir(), name=name,
    )  # fmt: skip
