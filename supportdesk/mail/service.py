"""Email out: recorded with the reply that causes it, delivered later by the worker.

``comment.added`` (a public reply, from any path: the reply box, a macro, later the API)
records one :class:`MailMessage` and a :class:`MailDelivery` per recipient (requester and
CCs) in the reply's own transaction: a reply that rolls back sends nothing; a committed
one is delivered however long the SMTP server is away. ``ticket.created`` records the
optional acknowledgement (``SUPPORTDESK_MAIL_ACK``). Nothing here talks to a server:
:func:`deliver` does, called by the worker.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Flask, current_app

from supportdesk import events, worker
from supportdesk.attachments.models import Attachment
from supportdesk.attachments.service import read_file
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.db import db, utcnow
from supportdesk.errors import DomainError
from supportdesk.mail import compose, inbound, transport
from supportdesk.mail.models import (
    InboundMessage,
    InboundOutcome,
    MailDelivery,
    MailKind,
    MailMessage,
)
from supportdesk.metrics import MAIL_OUTBOX, SCRAPE_REFRESHERS
from supportdesk.rendering import render_markdown
from supportdesk.tickets.models import Comment, Ticket, TicketFollower
from supportdesk.users.models import User
from supportdesk.worker import DeliveryState

ACK_TEXT = (
    "Hello {name},\n\nthank you for writing to us. We have received your request and "
    "filed it as {reference}; we will answer as soon as we can. Please keep {reference} in "
    "the subject when you write about it again.\n"
)


NOTIFY_TEXT = (
    "{who} wrote on {reference} ({title}):\n\n{body}\n\n"
    "-- \nAnswer in the desk: a reply to this email is not sent to the customer.\n"
)


class DeliveryActionError(DomainError):
    """A delivery cannot be sent again or cancelled in its state."""


def init_app(app: Flask) -> None:
    """Listen for replies and new tickets; give the worker the outbox (idempotent)."""
    events.subscribe(events.COMMENT_ADDED, on_comment_added)
    events.subscribe(events.TICKET_CREATED, on_ticket_created)
    worker.register(
        worker.QueueSpec(
            name="mail",
            model=MailDelivery,
            deliver=deliver,
            max_attempts=lambda: int(current_app.config["MAIL_MAX_ATTEMPTS"]),
            first_delay_seconds=lambda: float(current_app.config["MAIL_RETRY_SECONDS"]),
            batch=transport.reusing,
        )
    )
    for refresh in (count_outbox, inbound.count_parked):
        if refresh not in SCRAPE_REFRESHERS:
            SCRAPE_REFRESHERS.append(refresh)


def _recipients(ticket: Ticket) -> tuple[Customer | None, list[Customer]]:
    """Return the ticket's requester and CCs as stored now (one statement).

    A UNION of two primary-key lookups: an OR of them made PostgreSQL scan every customer
    (6 ms at 150,000 customers, found by make bench's reply_mail).
    """
    by_cc = (
        sa.select(Customer.id)
        .join(ticket_ccs, ticket_ccs.c.customer_id == Customer.id)
        .where(ticket_ccs.c.ticket_id == ticket.id)
    )
    wanted = by_cc if ticket.requester_id is None else sa.union(
        sa.select(Customer.id).where(Customer.id == ticket.requester_id), by_cc
    )  # fmt: skip
    people = list(db.session.scalars(
        sa.select(Customer).where(Customer.id.in_(wanted)).order_by(Customer.email)
    ))  # fmt: skip
    requester = next((c for c in people if c.id == ticket.requester_id), None)
    return requester, [c for c in people if c.id != ticket.requester_id]


def _earlier_ids(ticket_id: int) -> list[str]:
    """Return the Message-IDs of the ticket's conversation, oldest first.

    What the desk sent the customer and what it received from them (their client then
    shows one thread); never the notifications sent to staff.
    """
    sent = sa.select(MailMessage.message_id, MailMessage.created_at.label("at")).where(
        MailMessage.ticket_id == ticket_id, MailMessage.kind != MailKind.NOTIFY
    )
    received = sa.select(InboundMessage.message_id, InboundMessage.received_at.label("at")).where(
        InboundMessage.ticket_id == ticket_id, InboundMessage.message_id.is_not(None),
        InboundMessage.outcome != InboundOutcome.PARKED,
    )  # fmt: skip
    both = sa.union_all(sent, received).subquery()
    return list(db.session.scalars(sa.select(both.c.message_id).order_by(both.c.at)))


Person = tuple[str, str]  # (name, email)


def _people(customers: list[Customer]) -> list[Person]:
    return [(c.name, c.email) for c in customers]


def _record(ticket: Ticket, kind: MailKind, *, to: list[Person], cc: list[Person],
            comment: Comment | None = None) -> MailMessage:  # fmt: skip
    config = current_app.config
    earlier = _earlier_ids(ticket.id) if kind != MailKind.NOTIFY else []
    in_reply_to, references = compose.threading(earlier)
    domain = compose.mail_domain(config["MAIL_FROM"], config["MAIL_DOMAIN"])
    message = MailMessage(
        ticket_id=ticket.id,
        comment_id=comment.id if comment is not None else None,
        kind=kind,
        message_id=compose.new_message_id(ticket.reference, domain),
        in_reply_to=in_reply_to,
        references=references,
        subject=compose.subject_for(ticket.reference, ticket.title, reply=bool(earlier)),
        to_addrs=compose.format_addresses(to),
        cc_addrs=compose.format_addresses(cc),
    )
    db.session.add(message)
    db.session.flush()
    db.session.add_all(MailDelivery(mail_id=message.id, recipient=email) for _, email in [*to, *cc])
    db.session.flush()
    return message


def on_comment_added(*, comment: Comment, ticket: Ticket) -> None:
    """Record the email of a public reply to the requester and CCs (never of a note).

    A customer's own reply (by email) is not sent back to anyone outside: staff hear of
    it (:func:`_notify_staff`).
    """
    if comment.is_internal:
        return
    if comment.customer_id is not None:
        _notify_staff(comment, ticket)
        return
    requester, ccs = _recipients(ticket)
    to = [requester] if requester is not None else ccs[:1]
    cc = ccs if requester is not None else ccs[1:]
    if to:
        _record(ticket, MailKind.REPLY, to=_people(to), cc=_people(cc), comment=comment)


def _notify_staff(comment: Comment, ticket: Ticket) -> None:
    """Tell the assignee (else the ticket's followers) that the customer wrote.

    Only active staff, never the desk's mail account; the worker delivers it like any
    other mail (``SUPPORTDESK_NOTIFY_STAFF``).
    """
    if not current_app.config["NOTIFY_STAFF"]:
        return
    if ticket.assignee_id is not None:
        wanted = User.id == ticket.assignee_id
    else:
        wanted = User.id.in_(sa.select(TicketFollower.user_id)
                             .where(TicketFollower.ticket_id == ticket.id))  # fmt: skip
    staff = list(db.session.execute(
        sa.select(User.full_name, User.email).where(wanted, User.is_active.is_(True))
        .order_by(User.email)
    ))  # fmt: skip
    if staff:
        _record(ticket, MailKind.NOTIFY, to=[(n, e) for n, e in staff], cc=[], comment=comment)


def on_ticket_created(*, ticket: Ticket) -> None:
    """Record the acknowledgement of a new ticket, when the desk sends them.

    RFC 3834: it is marked ``Auto-Submitted: auto-replied``, goes to the requester only,
    and never to a blocked customer.
    """
    if not current_app.config["MAIL_ACK"] or ticket.requester_id is None:
        return
    requester = db.session.get(Customer, ticket.requester_id)
    if requester is None or requester.is_blocked:
        return
    _record(ticket, MailKind.ACK, to=_people([requester]), cc=[])


# Delivery (the worker)


def _outgoing(message: MailMessage, ticket: Ticket) -> compose.Outgoing:
    config = current_app.config
    signature = (config["MAIL_SIGNATURE"] or "").strip()
    attachments: tuple[compose.Attachment, ...] = ()
    if message.kind == MailKind.ACK:
        to = compose.people(message.to_addrs)
        name = to[0].display_name or to[0].username if to else "there"
        text = ACK_TEXT.format(name=name, reference=ticket.reference)
    elif message.kind == MailKind.NOTIFY:
        comment = db.session.get(Comment, message.comment_id)
        facts = (comment.via_email if comment is not None else None) or {}
        text = NOTIFY_TEXT.format(
            who=facts.get("from", "The customer"),
            reference=ticket.reference, title=ticket.title,
            body=comment.body if comment is not None else "",
        )  # fmt: skip
        signature = ""
    else:
        comment = db.session.get(Comment, message.comment_id)
        text = comment.body if comment is not None else ""
        files: list[Attachment] = list(db.session.scalars(
            sa.select(Attachment).where(Attachment.comment_id == message.comment_id)
            .order_by(Attachment.id)
        )) if message.comment_id is not None else []  # fmt: skip
        attachments = tuple(
            compose.Attachment(f.download_name, f.content_type, _file(f)) for f in files
        )
    if signature:
        text = f"{text.rstrip()}\n\n-- \n{signature}\n"
    return compose.Outgoing(
        sender=config["MAIL_FROM"], to=message.to_addrs, cc=message.cc_addrs,
        subject=message.subject, message_id=message.message_id,
        in_reply_to=message.in_reply_to, references=message.references,
        date=message.created_at, text=text, html=render_markdown(text),
        ticket_reference=ticket.reference,
        auto_submitted="auto-replied" if message.kind == MailKind.ACK
        else "auto-generated" if message.kind == MailKind.NOTIFY else None,
        attachments=attachments,
    )  # fmt: skip


def _file(attachment: Attachment) -> bytes:
    try:
        return read_file(attachment.sha256)
    except OSError:  # storage not mounted, or restored later: try again, say which file
        raise worker.TemporaryFailure(
            f"the attachment {attachment.filename!r} is missing from storage"
        ) from None


def outbox_dir() -> Path:
    """Return where messages are written when no SMTP server is configured."""
    configured = current_app.config["OUTBOX_DIR"]
    return Path(configured) if configured else Path(current_app.instance_path) / "outbox"


def deliver(delivery_id: int) -> DeliveryState:
    """Build delivery ``delivery_id``'s message and hand it to the server (or the outbox).

    Runs in the worker, outside any transaction that writes.
    """
    row = db.session.execute(
        sa.select(MailDelivery, MailMessage, Ticket)
        .join(MailMessage, MailMessage.id == MailDelivery.mail_id)
        .join(Ticket, Ticket.id == MailMessage.ticket_id)
        .where(MailDelivery.id == delivery_id)
    ).one_or_none()
    if row is None:  # its ticket was purged meanwhile
        raise worker.PermanentFailure("the ticket no longer exists")
    delivery, message, ticket = row
    raw = compose.build(_outgoing(message, ticket))
    config = current_app.config
    sender = compose.parse_desk_address(config["MAIL_FROM"]).addr_spec
    stamp = message.created_at.strftime("%Y%m%d-%H%M%S")
    return transport.send(
        raw, sender=sender, recipient=delivery.recipient, smtp_url=config["SMTP_URL"],
        timeout=config["SMTP_TIMEOUT_SECONDS"], outbox_dir=outbox_dir(),
        name=f"{stamp}-{ticket.reference}-{delivery.id}",
    )  # fmt: skip


def retry_delivery(delivery: MailDelivery) -> None:
    """Queue a failed or cancelled delivery again, to go out at the worker's next look.

    :raises DeliveryActionError: it is not failed or cancelled.
    """
    if delivery.state not in (DeliveryState.FAILED, DeliveryState.CANCELLED):
        raise DeliveryActionError("Only a failed or cancelled message can be sent again.")
    delivery.state = DeliveryState.QUEUED
    delivery.next_attempt_at = utcnow()
    delivery.attempts = 0
    delivery.done_at = None
    db.session.flush()


def cancel_delivery(delivery: MailDelivery) -> None:
    """Stop a queued or retrying delivery from going out.

    :raises DeliveryActionError: it is being sent or is done.
    """
    if delivery.state not in worker.DUE_STATES:
        raise DeliveryActionError("Only a queued or retrying message can be cancelled.")
    delivery.state = DeliveryState.CANCELLED
    delivery.done_at = utcnow()
    db.session.flush()


def count_outbox() -> None:
    """Set the outbox gauge from the database (called when /metrics is scraped)."""
    counts = dict(db.session.execute(
        sa.select(MailDelivery.state, sa.func.count()).group_by(MailDelivery.state)
    ).all())  # fmt: skip
    for state in DeliveryState:
        MAIL_OUTBOX.labels(state.value).set(counts.get(state, 0))


def deliveries_by_comment(ticket_id: int) -> dict[int | None, list[MailDelivery]]:
    """Return each public reply's deliveries (one statement), for the ticket page."""
    rows = db.session.execute(
        sa.select(MailDelivery, MailMessage.comment_id)
        .join(MailMessage, MailMessage.id == MailDelivery.mail_id)
        .where(MailMessage.ticket_id == ticket_id, MailMessage.comment_id.is_not(None))
        .order_by(MailDelivery.id)
    ).all()
    found: dict[int | None, list[MailDelivery]] = {}
    for delivery, comment_id in rows:
        found.setdefault(comment_id, []).append(delivery)
    return found
