"""Building received messages and receiving them, for the mail-in tests."""

from __future__ import annotations

import email.policy
import itertools
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import undefer

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work, utcnow
from supportdesk.extensions import db
from supportdesk.mail import inbound
from supportdesk.mail.models import InboundMessage

_counter = itertools.count(1)


def message(
    *,
    sender: str = "Ana Silva <ana@example.org>",
    to: str = "Acme Support <support@acme.example>",
    cc: str | None = None,
    subject: str = "The printer is on fire",
    body: str = "Please help, it smells of smoke.",
    message_id: str | None = "auto",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    html: str | None = None,
    attachments: list[tuple[str, str, bytes]] = (),
) -> bytes:
    """Return the bytes of a message as a mail client would send it."""
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = sender
    mail["To"] = to
    if cc:
        mail["Cc"] = cc
    mail["Subject"] = subject
    mail["Date"] = format_datetime(utcnow())
    if message_id == "auto":
        message_id = f"<test.{next(_counter)}.{id(mail)}@mail.example.org>"
    if message_id:
        mail["Message-ID"] = message_id
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = references
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes()


def receive(raw: bytes, source: str = "test") -> inbound.Received:
    """Receive one message in its own unit of work, as the CLI does."""
    with acting_as("cli:test"), unit_of_work():
        result = inbound.receive(raw, source)
    db.session.expire_all()
    return result


def stored() -> list[InboundMessage]:
    return list(db.session.scalars(
        sa.select(InboundMessage).options(undefer(InboundMessage.raw)).order_by(InboundMessage.id)
    ))  # fmt: skip


@pytest.fixture
def mail_in(app, monkeypatch, tmp_path):
    """The app set up as a desk at support@acme.example that receives mail."""
    for name, value in {
        "MAIL_FROM": "Acme Support <support@acme.example>", "MAIL_DOMAIN": None,
        "MAIL_ADDRESSES": ("help@acme.example",), "MAIL_ACK": False,
        "MAIL_SENDER_LIMIT": 20, "MAIL_MAX_BYTES": 25 * 1024 * 1024, "NOTIFY_STAFF": True,
        "SMTP_URL": None, "OUTBOX_DIR": str(tmp_path / "outbox"),
        "ATTACHMENT_DIR": str(tmp_path / "attachments"),
    }.items():  # fmt: skip
        monkeypatch.setitem(app.config, name, value)
    return app
