"""Email the desk sends (and, later, receives): messages per ticket, deliveries per recipient."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from supportdesk.db import Base, string_enum, utcnow
from supportdesk.worker import Queued


class MailKind(enum.StrEnum):
    """Why a message was sent."""

    REPLY = "reply"  # a public reply by staff
    ACK = "ack"  # the automatic acknowledgement of a new ticket (RFC 3834 auto-replied)


class MailMessage(Base):
    """One message sent for a ticket: its Message-ID, threading headers and recipients.

    Every Message-ID the desk sends is kept against its ticket (and comment), so a
    customer's reply finds its ticket by In-Reply-To/References. The body is built from
    the comment (and its attachments) when a delivery is made, the same for every
    recipient and every retry.
    """

    __tablename__ = "mail_messages"
    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "message_id"),
        sa.Index("ix_mail_messages_message_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id", ondelete="CASCADE"))
    comment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[MailKind] = mapped_column(string_enum(MailKind, "mail_kind", 16))
    message_id: Mapped[str] = mapped_column(sa.String(255))
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    references: Mapped[str] = mapped_column(sa.Text, default="")
    subject: Mapped[str] = mapped_column(sa.String(300))
    to_addrs: Mapped[str] = mapped_column(sa.Text)  # "Name <email>", comma-separated
    cc_addrs: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[MailDelivery]] = relationship(
        back_populates="mail", lazy="raise_on_sql", order_by="MailDelivery.id"
    )


class MailDelivery(Queued, Base):
    """One message to one recipient, delivered by the worker (the outbox)."""

    __tablename__ = "mail_deliveries"
    __table_args__ = (sa.Index("ix_mail_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mail_id: Mapped[int] = mapped_column(
        sa.ForeignKey("mail_messages.id", ondelete="CASCADE"), index=True
    )
    recipient: Mapped[str] = mapped_column(sa.String(254))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    mail: Mapped[MailMessage] = relationship(back_populates="deliveries", lazy="raise_on_sql")
