"""Hostile mail: arbitrary and mutated bytes never break ``receive``; XSS by email is inert."""

from __future__ import annotations

import email.policy
import os
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from supportdesk.extensions import db
from supportdesk.mail import parse
from supportdesk.mail.inbound import dedupe_key
from supportdesk.mail.models import InboundMessage, InboundOutcome
from supportdesk.mail.parse import message_ids
from supportdesk.models import Comment, Ticket
from tests.html_safety import script_risks
from tests.mail.inbound_helpers import receive
from tests.test_xss import PAYLOADS

FUZZ_EXAMPLES = int(os.environ.get("TEST_FUZZ_EXAMPLES", "200"))
CORPUS = [p.read_bytes() for p in sorted((Path(__file__).with_name("corpus")).glob("*.eml"))
          if b"{{BIG_BASE64}}" not in p.read_bytes()]  # fmt: skip
fuzz = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def mutated(draw) -> bytes:
    """A corpus message with bytes flipped, cut, repeated or inserted."""
    raw = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 6))):
        if not raw:
            break
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        if kind == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del raw[at : at + draw(st.integers(1, 200))]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=50))
        elif kind == "repeat":
            raw[at:at] = raw[at : at + draw(st.integers(1, 300))]
        else:
            del raw[at:]
    return bytes(raw)


def _message_id(raw: bytes) -> str | None:
    """The Message-ID as the desk reads it (the whole parse, else the headers alone)."""
    try:
        return parse.parse(raw).message_id
    except parse.NotMailError:
        ids = message_ids(parse.decode_header(BytesHeaderParser().parsebytes(raw)["Message-ID"]))
        return ids[0] if ids else None


def _check_consistent() -> None:
    rows = db.session.execute(
        sa.select(InboundMessage.outcome, InboundMessage.ticket_id, InboundMessage.comment_id)
    ).all()
    tickets = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    comments = db.session.scalar(sa.select(sa.func.count()).select_from(Comment))
    assert tickets == sum(1 for o, _, _ in rows if o == InboundOutcome.TICKET)
    assert comments == sum(1 for o, _, _ in rows if o == InboundOutcome.REPLY)
    for outcome, ticket_id, comment_id in rows:
        if outcome == InboundOutcome.TICKET:
            assert ticket_id is not None
        if outcome == InboundOutcome.REPLY:
            assert comment_id is not None


def _received_is_stored(raw: bytes) -> None:
    result = receive(raw, source="fuzz")
    stored = db.session.get(InboundMessage, result.inbound_id)
    if result.outcome is not None:
        assert db.session.scalar(
            sa.select(InboundMessage.raw).where(InboundMessage.id == stored.id)
        ) == raw  # fmt: skip
    else:  # a duplicate: the first one with its key (the Message-ID as read) is there
        assert stored.dedupe_key == dedupe_key(_message_id(raw), raw)


@fuzz
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_are_stored_and_never_raise(mail_in, raw):
    _received_is_stored(raw)
    _check_consistent()


@fuzz
@given(raw=mutated())
def test_mutated_corpus_messages_are_stored_and_never_raise(mail_in, raw):
    _received_is_stored(raw)
    _check_consistent()


def _hostile(payload: str, number: int) -> bytes:
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = Address(display_name=payload[:100], username=f"x{number}", domain="evil.example")
    mail["To"] = "support@acme.example"
    mail["Subject"] = payload[:200]
    mail["Message-ID"] = f"<xss{number}@evil.example>"
    mail.set_content(f"{payload}\n")
    mail.add_alternative(f"<html><body><p>{payload}</p><div>{payload}</div></body></html>",
                         subtype="html")  # fmt: skip
    mail.add_attachment(b"plain text file\n", maintype="text", subtype="plain",
                        filename=f"{payload[:80]}.txt")  # fmt: skip
    return mail.as_bytes()


def test_xss_payloads_by_email_are_inert_on_ticket_list_and_search(mail_in, agent_client):
    numbers = []
    for number, payload in enumerate(PAYLOADS):
        result = receive(_hostile(payload, number))
        assert result.outcome == InboundOutcome.TICKET, (payload, result.detail)
        numbers.append(result.ticket_number)
    for payload, number in zip(PAYLOADS, numbers, strict=True):
        page = agent_client.get(f"/tickets/{number}").text
        assert script_risks(page) == [], payload
        if "<" in payload:
            assert payload not in page, payload
    listing = agent_client.get("/tickets/").text
    assert script_risks(listing) == []
    for payload in PAYLOADS[::3]:
        found = agent_client.get("/tickets/", query_string={"q": payload[:100]}).text
        assert script_risks(found) == [], payload
        assert str(escape(payload[:100])) in found
