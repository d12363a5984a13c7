"""Building the messages the desk sends, with the standard library's ``email`` package.

Headers are only ever set through ``email.message.EmailMessage`` under ``policy.SMTP``
(``Address`` objects for people): names and subjects are RFC 2047-encoded when not ASCII,
and a line break can never start a new header, since every value is stripped of control
characters first and the policy refuses any that remain.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, parseaddr

from markupsafe import Markup, escape

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
REFERENCES_KEPT = 20  # the first message and the last 19: threads stay whole, headers short


def header_text(value: str, limit: int = 250) -> str:
    """Return ``value`` fit for a header: no control characters, whitespace collapsed.

    A typed ``=?`` is broken up: the ``email`` package decodes RFC 2047 encoded words
    found in a header string it is given, so ``=?utf-8?q?x=0D=0ABcc:_x@evil?=`` would turn
    back into a line break and a Bcc header on the way out (the injection test found it).
    """
    text = " ".join(_CONTROL.sub(" ", value or "").split())
    return text.replace("=?", "= ?")[:limit]


def address(name: str, email: str) -> Address:
    """Return a header address (the name cleaned; the email validated on input)."""
    local, _, domain = email.rpartition("@")
    return Address(display_name=header_text(name, 120), username=local, domain=domain)


def parse_desk_address(text: str) -> Address:
    """Return the desk's own address (``SUPPORTDESK_MAIL_FROM``) as a header address."""
    name, email = parseaddr(text)
    return address(name, email)


def mail_domain(mail_from: str, configured: str | None) -> str:
    """Return the domain of the desk's Message-IDs (the setting, else MAIL_FROM's domain)."""
    return configured or parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"


def new_message_id(reference: str, domain: str) -> str:
    """Return a new, unique Message-ID on the desk's domain (``<sd1042.…@domain>``).

    128 random bits from ``secrets``: unique across workers and hosts, and not derived
    from the process's ``random`` state (which a library may seed).
    """
    return f"<{reference.lower().replace('-', '')}.{secrets.token_hex(16)}@{domain}>"


def subject_for(reference: str, title: str, *, reply: bool) -> str:
    """Return ``[SD-1042] title``, with ``Re:`` when it answers earlier mail."""
    text = f"[{reference}] {header_text(title, 200)}"
    return f"Re: {text}" if reply else text


def format_addresses(people: Iterable[tuple[str, str]]) -> str:
    """Return ``(name, email)`` pairs as a header value (stored as sent)."""
    return ", ".join(str(address(name, email)) for name, email in people)


def threading(earlier: list[str]) -> tuple[str | None, str]:
    """Return In-Reply-To and References for a message after ``earlier`` (oldest first)."""
    if not earlier:
        return None, ""
    kept = earlier if len(earlier) <= REFERENCES_KEPT else [earlier[0], *earlier[-19:]]
    return earlier[-1], " ".join(kept)


@dataclass(frozen=True)
class Attachment:
    """A file to attach."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """Everything one message carries (the same bytes for every recipient and retry)."""

    sender: str  # SUPPORTDESK_MAIL_FROM
    to: str  # header values as stored with the message
    cc: str
    subject: str
    message_id: str
    in_reply_to: str | None
    references: str
    date: dt.datetime
    text: str  # the Markdown source
    html: Markup  # the same, rendered and sanitised as the desk shows it
    ticket_reference: str
    auto_submitted: str | None = None  # RFC 3834: "auto-replied", "auto-generated"
    attachments: tuple[Attachment, ...] = ()


def people(value: str) -> list[Address]:
    """Return the addresses of a stored header value."""
    return [address(name, email) for name, email in getaddresses([value]) if email]


def build(message: Outgoing) -> bytes:
    """Return the message as bytes ready for SMTP (CRLF line ends)."""
    mail = EmailMessage(policy=policy.SMTP)
    desk = parse_desk_address(message.sender)
    mail["From"] = desk
    mail["Reply-To"] = desk
    mail["To"] = people(message.to)
    if message.cc:
        mail["Cc"] = people(message.cc)
    mail["Subject"] = header_text(message.subject, 300)
    mail["Date"] = format_datetime(message.date)
    mail["Message-ID"] = message.message_id
    if message.in_reply_to:
        mail["In-Reply-To"] = message.in_reply_to
        mail["References"] = message.references
    # Our own mark: mail coming back with it is the desk's own (mail in parks it).
    mail["X-Supportdesk-Ticket"] = message.ticket_reference
    if message.auto_submitted:  # RFC 3834: responders must not answer an auto-reply
        mail["Auto-Submitted"] = message.auto_submitted
        mail["X-Auto-Response-Suppress"] = "All"
    mail.set_content(message.text)
    mail.add_alternative(_html_page(message), subtype="html")
    for attachment in message.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        mail.add_attachment(attachment.data, maintype=maintype or "application",
                            subtype=subtype or "octet-stream",
                            filename=header_text(attachment.filename, 200) or "file")  # fmt: skip
    return mail.as_bytes()


def _html_page(message: Outgoing) -> str:
    """Return a small inline-styled page: no external images, fonts or style sheets."""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{escape(message.subject)}</title></head>"
        '<body style="font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif;'
        ' font-size: 15px; line-height: 1.5; color: #1f2328; margin: 0; padding: 16px;">'
        f'<div style="max-width: 640px;">{message.html}</div>'
        '<p style="color: #656d76; font-size: 12px; margin-top: 24px;">'
        f"{escape(message.ticket_reference)} · reply to this email to add to the conversation"
        "</p></body></html>"
    )
