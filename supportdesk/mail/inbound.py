"""Email in: every received message goes through :func:`receive`, whatever brought it.

``receive`` stores the raw message first, then decides what it becomes — a new ticket,
a customer's reply on a ticket, or parked for an admin — all in the caller's one
transaction. The stored row's ``dedupe_key`` (the Message-ID, else a hash of the bytes)
is unique, so the same message received twice, or by two fetchers at once, lands once.
The ticket decisions are the ticket service's (:func:`tickets.service.create_ticket`,
:func:`tickets.service.add_customer_reply`); this module only reads mail and picks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesHeaderParser
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import generate_password_hash

from supportdesk.attachments.service import RejectedFileError, accept_upload, attach_files
from supportdesk.audit.context import acting_as_customer
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.customers.service import (
    Address,
    InvalidCustomerError,
    check_email,
    clean_text,
    find_customer,
    find_or_create,
)
from supportdesk.db import db, utcnow
from supportdesk.errors import DomainError
from supportdesk.mail import compose, parse
from supportdesk.mail.models import (
    InboundMessage,
    InboundOutcome,
    MailDelivery,
    MailMessage,
    ParkReason,
)
from supportdesk.metrics import MAIL_PARKED
from supportdesk.tickets import rules
from supportdesk.tickets import service as tickets
from supportdesk.tickets.models import OPEN_STATUSES, TICKET_PREFIX, Comment, Ticket
from supportdesk.users.models import User, UserRole
from supportdesk.worker import DeliveryState

log = logging.getLogger(__name__)

MAIL_ACCOUNT_EMAIL = "mail@supportdesk.invalid"  # .invalid: never a real mailbox (RFC 2606)
_REFERENCE = re.compile(rf"\[\s*{re.escape(TICKET_PREFIX)}(\d{{1,9}})\s*\]", re.IGNORECASE)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_OWN_ID_PREFIX = re.escape(TICKET_PREFIX.lower().replace("-", ""))  # see compose.new_message_id
_BOUNCE_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


class ReceiveError(DomainError):
    """A parked message cannot be turned into a ticket (e.g. it has no sender)."""


@dataclass(frozen=True)
class Received:
    """What :func:`receive` did with a message."""

    outcome: InboundOutcome | None  # None: a duplicate of ``inbound_id``
    inbound_id: int
    ticket_number: int | None = None
    detail: str = ""
    reason: ParkReason | None = None
    first_received_at: dt.datetime | None = None  # of a duplicate: when it first came

    @property
    def label(self) -> str:
        """One word for progress lines and summaries."""
        return "duplicate" if self.outcome is None else self.outcome.value


@dataclass
class _Decision:
    outcome: InboundOutcome
    reason: ParkReason | None = None
    detail: str = ""
    ticket: Ticket | None = None
    comment: Comment | None = None


def dedupe_key(message_id: str | None, raw: bytes) -> str:
    """Return the key that makes a message unique: its Message-ID, else its content."""
    if message_id:
        return "mid:" + message_id[:290]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def receive(raw: bytes, source: str) -> Received:
    """Store ``raw`` and turn it into a ticket, a reply or a parked message.

    Runs inside the caller's unit of work. A message received before (same Message-ID,
    or same bytes) changes nothing and returns its first outcome's row as a duplicate.
    Nothing in a message makes this raise; database errors do (the caller retries).
    """
    config = current_app.config
    too_big = len(raw) > int(config["MAIL_MAX_BYTES"])
    try:
        parsed = None if too_big else parse.parse(raw)
        not_mail = None
    except parse.NotMailError as exc:
        parsed, not_mail = None, str(exc)
    headers = parsed.headers if parsed is not None else _headers_only(raw)
    message_id = parsed.message_id if parsed is not None else _first_id(headers)
    key = dedupe_key(message_id, raw)
    sender_name, sender = _sender(parsed, headers)
    row = _Stored(key, _store(
        source=source[:120], dedupe_key=key, message_id=message_id, sender=sender.lower()[:254],
        sender_name=sender_name[:120], subject=parse.decode_header(headers.get("Subject"), 300),
        size=len(raw), raw=raw, outcome=InboundOutcome.PARKED, detail="",
    ))  # fmt: skip
    if row.id is None:
        first = db.session.execute(
            sa.select(InboundMessage.id, InboundMessage.ticket_id, InboundMessage.received_at)
            .where(InboundMessage.dedupe_key == key)
        ).one()  # fmt: skip
        return Received(None, first.id, _number(first.ticket_id), "received before",
                        first_received_at=first.received_at)  # fmt: skip
    if too_big:
        limit = int(config["MAIL_MAX_BYTES"]) // (1024 * 1024)
        decision = _park(ParkReason.TOO_BIG, f"the message is larger than {limit} MB")
    elif parsed is None:
        decision = _park(ParkReason.NOT_MAIL, not_mail or "not a mail message")
    else:
        decision = _decide_safely(parsed, row)
    _settle(row.id, decision)
    ticket = decision.ticket
    return Received(decision.outcome, row.id, ticket.number if ticket else None, decision.detail,
                    decision.reason)  # fmt: skip


@dataclass(frozen=True)
class _Stored:
    """The stored row of the message being received (``id`` None: a duplicate)."""

    dedupe_key: str
    id: int | None


def _store(**values: Any) -> int | None:
    """Insert the message's row unless its key is there; return its id (None: duplicate).

    ``INSERT … ON CONFLICT DO NOTHING``: a second fetcher storing the same message waits
    for the first one's transaction and then stores nothing (no savepoint needed).
    """
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(InboundMessage)
        .values(received_at=utcnow(), **values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(InboundMessage.id)
    )
    return db.session.execute(stmt).scalar_one_or_none()


def _decide_safely(parsed: parse.Parsed, row: _Stored) -> _Decision:
    """Decide in a savepoint: a message that trips a bug is parked, never lost."""
    try:
        with db.session.begin_nested():
            return _decide(parsed, row)
    except (sa.exc.OperationalError, sa.exc.InterfaceError):
        raise  # the database is away: the whole message is retried later
    except DomainError as exc:
        return _park(ParkReason.UNPARSEABLE, f"refused by the desk: {exc}")
    except Exception as exc:  # noqa: BLE001 - whatever a message does, it is kept and parked
        log.exception("could not process received message %s", row.dedupe_key)
        return _park(ParkReason.UNPARSEABLE, f"could not be read ({type(exc).__name__})")


def _settle(row_id: int, decision: _Decision) -> None:
    db.session.execute(
        sa.update(InboundMessage).where(InboundMessage.id == row_id).values(
            outcome=decision.outcome, park_reason=decision.reason, detail=decision.detail[:2000],
            ticket_id=decision.ticket.id if decision.ticket is not None else None,
            comment_id=decision.comment.id if decision.comment is not None else None,
        ).execution_options(synchronize_session=False)
    )  # fmt: skip


def _park(reason: ParkReason, detail: str, ticket: Ticket | None = None) -> _Decision:
    return _Decision(InboundOutcome.PARKED, reason, detail, ticket=ticket)


def _headers_only(raw: bytes) -> Message:
    try:
        return BytesHeaderParser().parsebytes(raw[:65536])
    except Exception:  # noqa: BLE001 - junk: no headers
        return Message()


def _first_id(headers: Message) -> str | None:
    ids = parse.message_ids(parse.decode_header(headers.get("Message-ID")))
    return ids[0] if ids else None


def _sender(parsed: parse.Parsed | None, headers: Message) -> tuple[str, str]:
    if parsed is not None:
        return parsed.sender_name, parsed.sender
    pairs = parse.addresses(headers, "From")
    return pairs[0] if pairs else ("", "")


# Deciding


def _decide(parsed: parse.Parsed, row: _Stored) -> _Decision:
    if parsed.structure_broken:
        return _park(ParkReason.UNPARSEABLE, "the MIME structure is broken: "
                     + ", ".join(sorted(set(parsed.defects))))  # fmt: skip
    if not parsed.sender:
        return _park(ParkReason.UNPARSEABLE, "the message has no From address")
    signal = _own_message(parsed) or _bounce(parsed) or _automatic(parsed)
    if signal is not None:
        return signal
    try:
        address = Address(check_email(parsed.sender), clean_text(parsed.sender_name, 120))
    except InvalidCustomerError as exc:
        return _park(ParkReason.UNPARSEABLE, f"the sender's address is not usable: {exc}")
    existing = find_customer(address.email)
    if existing is not None and existing.is_blocked:
        return _park(ParkReason.BLOCKED, f"{existing.email} is blocked")
    if _is_list_mail(parsed.headers) and not _has_open_ticket(existing):
        return _park(ParkReason.NEWSLETTER, "list or newsletter mail (List-Id/List-Unsubscribe)")
    ticket, how = _thread(parsed, existing)
    # A staff member answering a notification by email is parked; one who asked as a
    # customer (the requester or a CC: an internal desk) is answered like any customer.
    staff_answer = (
        ticket is not None
        and _is_staff(address.email)
        and not (existing is not None and _is_party(ticket, existing))
    )
    if staff_answer and ticket is not None:
        return _park(ParkReason.STAFF, f"a staff member answered {ticket.reference} by email; "
                     "staff reply in the desk", ticket=ticket)  # fmt: skip
    account = mail_account()
    with acting_as_customer(address.email):
        customer = existing if existing is not None else find_or_create(address)
        if not customer.name and address.name:
            customer.name = address.name
        if ticket is not None and rules.takes_customer_reply(ticket.status):
            return _reply(parsed, row, ticket, customer, how, account)
        limit = int(current_app.config["MAIL_SENDER_LIMIT"])
        if _recent_tickets(parsed.sender) >= limit:
            return _park(
                ParkReason.SENDER_LIMIT,
                f"{customer.email} opened {limit} tickets by email in the last hour",
            )
        return _new_ticket(parsed, row, customer, account, follows=ticket)


def _own_message(parsed: parse.Parsed) -> _Decision | None:
    config = current_app.config
    domain = compose.mail_domain(config["MAIL_FROM"], config["MAIL_DOMAIN"]).lower()
    mid = (parsed.message_id or "").lower()
    ours = re.fullmatch(rf"<{_OWN_ID_PREFIX}\d+\.[0-9a-f]{{32}}@{re.escape(domain)}>", mid)
    if parsed.headers.get("X-Supportdesk-Ticket") is not None or ours:
        return _park(ParkReason.OWN_MESSAGE, "a message the desk sent came back")
    if parsed.sender.lower() in desk_addresses():
        return _park(ParkReason.OWN_MESSAGE, f"sent from the desk's own address {parsed.sender}")
    return None


def desk_addresses() -> frozenset[str]:
    """Return the desk's own addresses, lower-cased (MAIL_FROM and MAIL_ADDRESSES)."""
    config = current_app.config
    found = {compose.parse_desk_address(config["MAIL_FROM"]).addr_spec.lower()}
    found.update(a.lower() for a in config["MAIL_ADDRESSES"])
    return frozenset(found)


def _bounce(parsed: parse.Parsed) -> _Decision | None:
    headers = parsed.headers
    report_type = headers.get_param("report-type")
    report = headers.get_content_type() == "multipart/report" and (
        isinstance(report_type, str) and report_type.lower() == "delivery-status"
    )
    null_path = parse.decode_header(headers.get("Return-Path")).replace(" ", "") == "<>"
    if not (report or null_path or _BOUNCE_SENDERS.match(parsed.sender)):
        return None
    marked = _mark_bounced(headers) if report else []
    ticket = marked[0][0] if marked else None
    detail = "a bounce (delivery failure report)"
    if marked:
        detail += "; marked failed: " + ", ".join(f"{t.reference} to {r}" for t, r in marked)
    return _park(ParkReason.BOUNCE, detail, ticket=ticket)


def _mark_bounced(report: Message) -> list[tuple[Ticket, str]]:
    """Mark the deliveries a delivery-status report says failed; return them."""
    original_ids: list[str] = []
    failed: dict[str, str] = {}
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks if isinstance(blocks, list) else []:
                if not isinstance(block, Message):
                    continue
                action = parse.decode_header(block.get("Action")).lower()
                recipient = parse.decode_header(block.get("Final-Recipient") or
                                                block.get("Original-Recipient"))  # fmt: skip
                if action.startswith("failed") and recipient:
                    address = recipient.split(";", 1)[-1].strip().lower()
                    why = parse.decode_header(block.get("Diagnostic-Code") or block.get("Status"))
                    failed[address] = why.split(";", 1)[-1].strip()
        elif kind in ("text/rfc822-headers", "message/rfc822"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                original_ids += parse.message_ids(parse.decode_header(inner[0].get("Message-ID")))
            elif isinstance(inner, str):
                found = re.search(r"(?im)^message-id:\s*(<[^>\s]+>)", inner)
                original_ids += [found.group(1)] if found else []
    if not original_ids or not failed:
        return []
    rows = db.session.execute(
        sa.select(MailDelivery, Ticket)
        .join(MailMessage, MailMessage.id == MailDelivery.mail_id)
        .join(Ticket, Ticket.id == MailMessage.ticket_id)
        .where(MailMessage.message_id.in_(original_ids),
               sa.func.lower(MailDelivery.recipient).in_(list(failed)))
    ).all()  # fmt: skip
    for delivery, _ticket in rows:
        delivery.state = DeliveryState.FAILED
        delivery.last_error = f"bounced: {failed[delivery.recipient.lower()] or 'no reason given'}"
        delivery.done_at = utcnow()
    return [(ticket, delivery.recipient) for delivery, ticket in rows]


def _automatic(parsed: parse.Parsed) -> _Decision | None:
    """RFC 3834 and the de-facto headers of autoresponders: never answered, never ticketed."""
    headers = parsed.headers
    auto = parse.decode_header(headers.get("Auto-Submitted")).lower()
    if auto and auto != "no":
        return _park(ParkReason.AUTO_REPLY, f"an automatic message (Auto-Submitted: {auto})")
    for name in _AUTO_HEADERS:
        if headers.get(name) is not None:
            return _park(ParkReason.AUTO_REPLY, f"an automatic reply ({name})")
    suppress = parse.decode_header(headers.get("X-Auto-Response-Suppress")).lower()
    if any(word in ("all", "autoreply", "oof") for word in re.split(r"[\s,]+", suppress)):
        return _park(ParkReason.AUTO_REPLY, "an automatic reply (X-Auto-Response-Suppress)")
    precedence = parse.decode_header(headers.get("Precedence")).lower()
    if precedence in ("bulk", "junk", "auto_reply"):
        return _park(ParkReason.AUTO_REPLY, f"bulk or automatic mail (Precedence: {precedence})")
    return None


def _is_list_mail(headers: Message) -> bool:
    precedence = parse.decode_header(headers.get("Precedence")).lower()
    return precedence == "list" or any(
        headers.get(name) is not None for name in ("List-Id", "List-Unsubscribe")
    )


def _has_open_ticket(customer: Customer | None) -> bool:
    if customer is None:
        return False
    return db.session.scalar(
        sa.select(sa.exists().where(Ticket.requester_id == customer.id,
                                    Ticket.status.in_(OPEN_STATUSES),
                                    Ticket.deleted_at.is_(None)))
    ) is True  # fmt: skip


def _is_staff(email: str) -> bool:
    return db.session.scalar(
        sa.select(sa.exists().where(sa.func.lower(User.email) == email.lower(),
                                    User.email != MAIL_ACCOUNT_EMAIL))
    ) is True  # fmt: skip


# Threading


def _thread(parsed: parse.Parsed, sender: Customer | None) -> tuple[Ticket | None, str]:
    """Return the ticket a message answers and how it was found ("" when none).

    By Message-ID first (a message the desk sent or received for the ticket); else by
    the ``[SD-n]`` reference in the subject, but only from the ticket's requester or CCs:
    a stranger's reference never attaches to someone else's ticket.
    """
    ids = parsed.thread_ids[:50]
    if ids:
        ticket_id = _ticket_by_message_ids(ids)
        if ticket_id is not None:
            ticket = _live_ticket(ticket_id)
            if ticket is not None:
                return ticket, "message-id"
    for number in _subject_numbers(parsed.subject):
        ticket = _live_ticket(None, number=number)
        if ticket is not None and sender is not None and _is_party(ticket, sender):
            return ticket, "subject"
    return None, ""


def _subject_numbers(subject: str) -> list[int]:
    return [int(n) for n in _REFERENCE.findall(subject)][:5]


def _ticket_by_message_ids(ids: list[str]) -> int | None:
    """Return the ticket of the newest of ``ids`` that the desk sent or received."""
    sent = sa.select(MailMessage.message_id, MailMessage.ticket_id).where(
        MailMessage.message_id.in_(ids), MailMessage.kind != "notify"
    )
    received = sa.select(InboundMessage.message_id, InboundMessage.ticket_id).where(
        InboundMessage.message_id.in_(ids), InboundMessage.ticket_id.is_not(None),
        InboundMessage.outcome != InboundOutcome.PARKED,
    )  # fmt: skip
    rows: Any = db.session.execute(sa.union_all(sent, received)).all()  # (id, ticket) pairs
    found = {message_id: ticket_id for message_id, ticket_id in rows if ticket_id is not None}
    return next((found[m] for m in ids if m in found), None)  # In-Reply-To first


def _live_ticket(ticket_id: int | None, *, number: int | None = None) -> Ticket | None:
    """Load a ticket not in the trash, following merges to where it lives now."""
    for _ in range(5):
        where = Ticket.id == ticket_id if number is None else Ticket.number == number
        ticket = db.session.scalar(sa.select(Ticket).where(where, Ticket.deleted_at.is_(None)))
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket_id, number = ticket.merged_into_id, None
    return None


def _is_party(ticket: Ticket, customer: Customer) -> bool:
    if ticket.requester_id == customer.id:
        return True
    return db.session.scalar(
        sa.select(sa.exists().where(ticket_ccs.c.ticket_id == ticket.id,
                                    ticket_ccs.c.customer_id == customer.id))
    ) is True  # fmt: skip


# Writing


def mail_account() -> User:
    """Return the desk's mail account: the author of customers' comments (created once).

    Inactive, with a password nobody knows: it cannot log in; it exists because a
    ticket's creator and a comment's author are staff accounts.
    """
    account = db.session.scalar(sa.select(User).where(User.email == MAIL_ACCOUNT_EMAIL))
    if account is not None:
        return account
    try:
        with db.session.begin_nested():
            unknown = secrets.token_urlsafe(32)  # never shown, never stored in clear
            account = User(
                email=MAIL_ACCOUNT_EMAIL,
                full_name="Email",
                is_active=False,
                role=UserRole.AGENT,
                password_hash=generate_password_hash(unknown),
            )
            db.session.add(account)
    except sa.exc.IntegrityError:
        account = db.session.scalar(sa.select(User).where(User.email == MAIL_ACCOUNT_EMAIL))
        if account is None:  # pragma: no cover
            raise
    return account


def _facts(parsed: parse.Parsed, row: _Stored, refused: list[str]) -> dict[str, Any]:
    def people(pairs: list[tuple[str, str]]) -> str:
        return ", ".join(compose_person(n, a) for n, a in pairs)[:1000]

    return {
        "inbound_id": row.id,
        "from": compose_person(parsed.sender_name, parsed.sender),
        "to": people(parsed.to),
        "cc": people(parsed.cc),
        "date": parsed.date.isoformat() if parsed.date else None,
        "refused": refused,
    }


def compose_person(name: str, email: str) -> str:
    """Return ``Name <email>`` for display (not a header)."""
    name = clean_text(name, 120)
    return f"{name} <{email}>" if name else email


def _accept_files(files: Iterable[parse.File]) -> tuple[list[Any], list[str]]:
    max_bytes = int(current_app.config["MAX_ATTACHMENT_MB"]) * 1024 * 1024
    pending, refused = [], []
    for item in files:
        try:
            stream = io.BytesIO(item.data)
            pending.append(accept_upload(item.filename, stream, max_bytes=max_bytes))
        except RejectedFileError as exc:
            refused.append(str(exc))
    return pending, refused


def _with_refusals(text: str, refused: list[str]) -> str:
    limit = int(current_app.config["MAX_TEXT_CHARS"]) - 2_000  # room for the notes below
    if len(text) > limit:  # the whole message stays downloadable as the original (.eml)
        text = (text[:limit].rstrip() + f"\n\n*The message was longer than {limit:,} "
                "characters; the whole of it is in the original message (.eml).*")  # fmt: skip
    if not refused:
        return text
    lines = "\n".join(f"- {_markdown_escape(r)}" for r in refused)
    return f"{text}\n\n*Attachments not accepted:*\n{lines}"


def _markdown_escape(text: str) -> str:
    """Escape what could make a link, an image, emphasis or HTML of a file's name."""
    return re.sub(r"([\\`*_\[\]<>!|~])", r"\\\1", text)


def _reply(parsed: parse.Parsed, row: _Stored, ticket: Ticket, customer: Customer,
           how: str, account: User) -> _Decision:  # fmt: skip
    reply, quoted = parse.split_reply(parsed.text)
    pending, refused = _accept_files(parsed.files)
    body = _with_refusals(reply.strip() or "(no text)", refused)
    comment = tickets.add_customer_reply(
        ticket, customer=customer, account=account, body=body,
        via_email=_facts(parsed, row, refused), quoted=quoted,
    )  # fmt: skip
    if pending:
        attach_files(pending, ticket_id=ticket.id, uploader=account, comment_id=comment.id)
    return _Decision(InboundOutcome.REPLY, detail=f"a reply on {ticket.reference} (by {how})",
                     ticket=ticket, comment=comment)  # fmt: skip


def _new_ticket(parsed: parse.Parsed, row: _Stored, customer: Customer, account: User,
                follows: Ticket | None) -> _Decision:  # fmt: skip
    text = parsed.text or "(no text)"
    strangers = [n for n in _subject_numbers(parsed.subject)
                 if follows is None or n != follows.number]  # fmt: skip
    if follows is not None:
        link = f"[{follows.reference}](/tickets/{follows.number})"
        text = f"Follow-up to {link}, which is closed.\n\n{text}"
    elif strangers:
        refs = ", ".join(f"[{TICKET_PREFIX}{n}](/tickets/{n})" for n in strangers)
        text = f"The subject mentions {refs}.\n\n{text}"
    pending, refused = _accept_files(parsed.files)
    ccs = _cc_customers(parsed, customer)
    title = " ".join((parsed.subject or "").split())[: rules.TITLE_MAX] or "(no subject)"
    ticket = tickets.create_ticket(title=title, description=_with_refusals(text, refused),
                                   creator=account, requester=customer, ccs=ccs,
                                   creator_follows=False,
                                   via_email=_facts(parsed, row, refused))  # fmt: skip
    if pending:
        attach_files(pending, ticket_id=ticket.id, uploader=account)
    detail = "a new ticket" + (f", a follow-up to closed {follows.reference}" if follows else "")
    return _Decision(InboundOutcome.TICKET, detail=detail, ticket=ticket)


def _recent_tickets(email: str) -> int:
    since = utcnow() - dt.timedelta(hours=1)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(InboundMessage).where(
            InboundMessage.sender == email.lower(), InboundMessage.received_at >= since,
            InboundMessage.outcome == InboundOutcome.TICKET)
    ) or 0  # fmt: skip


def _cc_customers(parsed: parse.Parsed, requester: Customer) -> list[Customer]:
    ours = desk_addresses()
    found: dict[str, Address] = {}
    for name, email in [*parsed.to, *parsed.cc]:
        try:
            address = Address(check_email(email), clean_text(name, 120))
        except InvalidCustomerError:
            continue  # a malformed address among the recipients is left out
        lowered = address.email.lower()
        if lowered not in ours and lowered != requester.email.lower():
            found.setdefault(lowered, address)
    return [find_or_create(a) for a in list(found.values())[:20]]


def _number(ticket_id: int | None) -> int | None:
    if ticket_id is None:
        return None
    return db.session.scalar(sa.select(Ticket.number).where(Ticket.id == ticket_id))


# Parked messages (admins)


def ticket_from_parked(row: InboundMessage) -> Ticket:
    """Turn a parked message into a new ticket, whatever it was parked for.

    :raises ReceiveError: it is not parked, or has no usable sender or content.
    """
    if row.outcome != InboundOutcome.PARKED:
        raise ReceiveError("Only a parked message can be made a ticket.")
    raw = db.session.scalar(sa.select(InboundMessage.raw).where(InboundMessage.id == row.id))
    try:
        parsed = parse.parse(raw or b"")
        address = Address(check_email(parsed.sender), clean_text(parsed.sender_name, 120))
    except (parse.NotMailError, InvalidCustomerError) as exc:
        raise ReceiveError(f"This message cannot become a ticket: {exc}") from None
    account = mail_account()
    customer = find_or_create(address)  # audited as the admin who made the ticket
    decision = _new_ticket(parsed, _Stored(row.dedupe_key, row.id), customer, account,
                           follows=None)  # fmt: skip
    _settle(row.id, decision)
    if decision.ticket is None:  # pragma: no cover - _new_ticket always makes one
        raise ReceiveError("The message could not be made a ticket.")
    return decision.ticket


def delete_parked(row: InboundMessage) -> None:
    """Delete a parked message for good.

    :raises ReceiveError: it is not parked (a ticketed message is kept with its ticket).
    """
    if row.outcome != InboundOutcome.PARKED:
        raise ReceiveError("Only a parked message can be deleted.")
    db.session.delete(row)
    db.session.flush()


def prune_parked(older_than_days: int) -> int:
    """Delete parked messages received more than ``older_than_days`` ago; return how many."""
    before = utcnow() - dt.timedelta(days=older_than_days)
    result = db.session.execute(
        sa.delete(InboundMessage).where(InboundMessage.outcome == InboundOutcome.PARKED,
                                        InboundMessage.received_at < before)
    )  # fmt: skip
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def parked_page(*, reason: ParkReason | None, before: int | None, limit: int
                ) -> tuple[list[Any], int | None]:  # fmt: skip
    """Return parked messages with their ticket's number, newest first, and the next cursor.

    One statement; the raw bytes are not read.
    """
    stmt = (
        sa.select(InboundMessage, Ticket.number)
        .outerjoin(Ticket, Ticket.id == InboundMessage.ticket_id)
        .where(InboundMessage.outcome == InboundOutcome.PARKED)
        .order_by(InboundMessage.id.desc())
        .limit(limit + 1)
    )
    if reason is not None:
        stmt = stmt.where(InboundMessage.park_reason == reason)
    if before is not None:
        stmt = stmt.where(InboundMessage.id < before)
    rows = list(db.session.execute(stmt).all())
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1][0].id if more else None


def count_parked() -> None:
    """Set the parked-mail gauge from the database (called when /metrics is scraped)."""
    MAIL_PARKED.set(db.session.scalar(
        sa.select(sa.func.count()).select_from(InboundMessage)
        .where(InboundMessage.outcome == InboundOutcome.PARKED)
    ) or 0)  # fmt: skip
