"""Email the desk sends (messages per ticket, deliveries per recipient) and receives."""

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
    NOTIFY = "notify"  # a customer's reply, told to the assignee or followers (staff)


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


class InboundOutcome(enum.StrEnum):
    """What became of a received message."""

    TICKET = "ticket"  # it opened a new ticket
    REPLY = "reply"  # it became a customer's comment on an existing ticket
    PARKED = "parked"  # kept for an admin to look at (see ParkReason)


class ParkReason(enum.StrEnum):
    """Why a received message made no ticket or comment."""

    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    NEWSLETTER = "newsletter"
    OWN_MESSAGE = "own_message"
    STAFF = "staff"
    BLOCKED = "blocked"
    SENDER_LIMIT = "sender_limit"
    TOO_BIG = "too_big"
    UNPARSEABLE = "unparseable"
    NOT_MAIL = "not_mail"


def _open_enum(enum_type: type[enum.StrEnum], length: int) -> sa.Enum:
    # Checked in Python only: a new value needs no table rewrite (a CHECK on SQLite does).
    return sa.Enum(enum_type, native_enum=False, create_constraint=False, length=length,
                   values_callable=lambda members: [m.value for m in members])  # fmt: skip


class InboundMessage(Base):
    """One message the desk received (IMAP or the MTA pipe), kept raw, with its outcome.

    The raw bytes are stored first, in the same transaction as the ticket or comment the
    message became, so a message is either wholly received or not at all. ``dedupe_key``
    (the Message-ID, else a hash of the bytes) is unique: the same message fetched twice,
    or by two fetchers at once, becomes one ticket or comment.
    """

    __tablename__ = "inbound_mail"
    __table_args__ = (
        sa.UniqueConstraint("dedupe_key"),
        sa.Index("ix_inbound_mail_message_id", "message_id"),
        sa.Index("ix_inbound_mail_outcome", "outcome", "id"),
        sa.Index("ix_inbound_mail_sender", "sender", "received_at"),
        sa.Index("ix_inbound_mail_ticket_id", "ticket_id"),
        sa.Index("ix_inbound_mail_comment_id", "comment_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(sa.String(120))  # "pipe", "imap:host/INBOX", "web"
    dedupe_key: Mapped[str] = mapped_column(sa.String(300))
    message_id: Mapped[str | None] = mapped_column(sa.String(255))
    sender: Mapped[str] = mapped_column(sa.String(254), default="")  # lower-cased address
    sender_name: Mapped[str] = mapped_column(sa.String(120), default="")
    subject: Mapped[str] = mapped_column(sa.String(300), default="")
    size: Mapped[int] = mapped_column(sa.Integer)
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True, deferred_raiseload=True)
    outcome: Mapped[InboundOutcome] = mapped_column(_open_enum(InboundOutcome, 16))
    park_reason: Mapped[ParkReason | None] = mapped_column(_open_enum(ParkReason, 32))
    detail: Mapped[str] = mapped_column(sa.Text, default="")  # the reason, for people
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id", ondelete="SET NULL"))
    comment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("comments.id", ondelete="SET NULL")
    )
