"""The mail corpus: 50 messages in the shapes real clients send, each with its outcome.

``tests/mail/corpus/NN-name.eml`` is the message as it arrives; ``NN-name.json`` beside
it says what it must become. Placeholders are filled in from the scene every message
is received into: ``{{OPEN}}`` an open ticket of Anna Schmidt's (waiting on her, with
an agent's reply whose Message-ID is ``{{OPEN_MID}}``), ``{{CLOSED}}`` a closed ticket
of hers, ``{{OWN_MID}}`` a Message-ID of the desk's making, ``{{BIG_BASE64}}`` 30 MB.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from supportdesk.attachments.models import Attachment
from supportdesk.customers.models import Customer
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.mail.models import MailDelivery, MailMessage
from supportdesk.models import Comment, Ticket
from supportdesk.tickets import service
from supportdesk.tickets.models import TicketStatus
from tests.factories import CustomerFactory, TicketFactory, UserFactory
from tests.mail.inbound_helpers import receive

CORPUS = Path(__file__).with_name("corpus")
MESSAGES = sorted(CORPUS.glob("*.eml"))


def test_the_corpus_has_at_least_forty_messages_each_with_its_outcome():
    assert len(MESSAGES) >= 40
    for path in MESSAGES:
        assert path.with_suffix(".json").exists(), path.name


def _scene() -> dict[str, str]:
    ana = CustomerFactory(email="ana@example.org", name="Anna Schmidt")
    CustomerFactory(email="blocked@example.net", is_blocked=True)
    agent = UserFactory()
    open_ticket = TicketFactory(requester=ana, title="Printer on fire", assignee=agent)
    closed = TicketFactory(requester=ana, title="Old problem", status=TicketStatus.CLOSED)
    with unit_of_work():
        service.add_comment(open_ticket, author=agent, body="Please restart the printer.",
                            is_internal=False)  # fmt: skip
        service.change_status(open_ticket, TicketStatus.WAITING_ON_CUSTOMER, actor=agent)
    sent = db.session.scalar(sa.select(MailMessage.message_id).where(
        MailMessage.ticket_id == open_ticket.id))  # fmt: skip
    return {
        "OPEN": str(open_ticket.number),
        "OPEN_MID": sent,
        "CLOSED": str(closed.number),
        "OWN_MID": f"<sd{open_ticket.number}.{os.urandom(16).hex()}@acme.example>",
    }


def _fill(text: str, scene: dict[str, str]) -> str:
    for key, value in scene.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _raw(path: Path, scene: dict[str, str]) -> bytes:
    raw = path.read_bytes()
    for key, value in scene.items():
        raw = raw.replace(b"{{" + key.encode() + b"}}", value.encode())
    if b"{{BIG_BASE64}}" in raw:
        big = base64.encodebytes(b"\x00\x00\x00\x18ftypmp42" + b"\x07" * (23 * 1024 * 1024))
        raw = raw.replace(b"{{BIG_BASE64}}", big)
        assert len(raw) > 30 * 1024 * 1024
    return raw


def _files(ticket_id: int, comment_id: int | None) -> list[str]:
    return list(db.session.scalars(
        sa.select(Attachment.filename).where(Attachment.ticket_id == ticket_id,
                                             Attachment.comment_id.is_(None) if comment_id is None
                                             else Attachment.comment_id == comment_id)
        .order_by(Attachment.id)
    ))  # fmt: skip


@pytest.mark.parametrize("path", MESSAGES, ids=[p.stem for p in MESSAGES])
def test_each_corpus_message_becomes_what_its_json_says(mail_in, path):
    scene = _scene()
    expect = json.loads(_fill(path.with_suffix(".json").read_text(), scene))
    raw = _raw(path, scene)
    deliveries_before = db.session.scalar(sa.select(sa.func.count()).select_from(MailDelivery))
    result = receive(raw, source="corpus")
    assert result.label == expect["outcome"], result.detail
    if expect.get("reason"):
        assert result.reason.value == expect["reason"], result.detail
    for _ in range(expect.get("times", 1) - 1):
        assert receive(raw, source="corpus").label == "duplicate"
    if expect["outcome"] == "ticket":
        _check_ticket(_ticket(result.ticket_number), expect)
        assert result.ticket_number != int(scene["OPEN"])
    elif expect["outcome"] == "reply":
        assert str(result.ticket_number) == scene["OPEN"]
        _check_reply(_ticket(result.ticket_number), expect)
    if expect.get("not_on_open"):
        opened = _ticket(int(scene["OPEN"]))
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Comment).where(
            Comment.ticket_id == opened.id, Comment.customer_id.is_not(None))) == 0  # fmt: skip
    if expect.get("delivery_failed"):
        delivery = db.session.scalars(sa.select(MailDelivery)).one()
        assert delivery.state == "failed"
        assert expect["delivery_failed"] in delivery.last_error
    if expect.get("no_mail_queued"):
        after = db.session.scalar(sa.select(sa.func.count()).select_from(MailDelivery))
        assert after == deliveries_before


def _ticket(number: int) -> Ticket:
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def _check_ticket(ticket: Ticket, expect: dict) -> None:
    if "title" in expect:
        assert ticket.title == expect["title"]
    requester = db.session.get(Customer, ticket.requester_id)
    if "requester" in expect:
        assert requester.email == expect["requester"]
    if "requester_name" in expect:
        assert requester.name == expect["requester_name"]
    _check_text(ticket.description, expect)
    if "attachments" in expect:
        assert _files(ticket.id, None) == expect["attachments"]
    for refused in expect.get("refused", []):
        assert any(refused in r for r in ticket.via_email["refused"])


def _check_reply(ticket: Ticket, expect: dict) -> None:
    comment = db.session.scalars(
        sa.select(Comment).where(Comment.ticket_id == ticket.id).order_by(Comment.id.desc())
    ).first()
    assert comment.customer_id is not None
    if "body_exact" in expect:
        assert comment.body == expect["body_exact"]
    _check_text(comment.body, expect)
    for text in expect.get("quoted_contains", []):
        assert text in (comment.quoted or "")
    if "status_after" in expect:
        assert ticket.status.value == expect["status_after"]


def _check_text(text: str, expect: dict) -> None:
    for wanted in expect.get("body_contains", []):
        assert wanted in text
    for unwanted in expect.get("body_excludes", []):
        assert unwanted not in text
