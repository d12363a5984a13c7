"""Public replies reach the requester and CCs as real, threaded email, through the worker."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import re
import ssl

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import AuthResult
from markupsafe import Markup

from supportdesk import worker
from supportdesk.attachments.models import Attachment
from supportdesk.attachments.service import stored_path
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.mail import compose
from supportdesk.mail.models import MailDelivery, MailMessage
from supportdesk.models import Ticket
from supportdesk.tickets import service
from supportdesk.worker import DeliveryState
from tests.factories import CustomerFactory, TicketFactory, UserFactory
from tests.smtp_sink import free_port, start_sink

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Settings:
    """The app's settings, changed for one test only (the app lives for the session)."""

    def __init__(self, app, monkeypatch):
        self.app, self.monkeypatch = app, monkeypatch

    def __setitem__(self, name, value):
        self.monkeypatch.setitem(self.app.config, name, value)

    def __getitem__(self, name):
        return self.app.config[name]


@pytest.fixture
def mail_app(app, smtp_sink, tmp_path, monkeypatch):
    settings = Settings(app, monkeypatch)
    for name, value in {"SMTP_URL": smtp_sink.url, "OUTBOX_DIR": str(tmp_path / "outbox"),
                        "MAIL_FROM": "Acme Support <support@acme.example>", "MAIL_DOMAIN": None,
                        "MAIL_SIGNATURE": "", "MAIL_ACK": False,
                        "MAIL_RETRY_SECONDS": 60}.items():  # fmt: skip
        settings[name] = value
    app.settings = settings
    return app


def _ticket(**kwargs):
    ana = CustomerFactory(name="Ana Silva", email="ana@example.org")
    ben = CustomerFactory(name="Ben", email="ben@example.org")
    ticket = TicketFactory(requester=ana, ccs=[ben], title="Printer on fire", **kwargs)
    db.session.flush()
    return ticket


def _deliver(now=None):
    counts = worker.run_once(name="test", now=now or worker.utcnow)
    db.session.remove()
    return counts


def _states():
    return sorted(db.session.scalars(sa.select(MailDelivery.state)))


def test_a_public_reply_arrives_threaded_with_both_parts(mail_app, smtp_sink, agent_client):
    ticket = _ticket()
    number = ticket.number
    response = agent_client.post(
        f"/tickets/{number}/comments",
        data={"body": "**Fixed**, see the log.", "attachments": [(io.BytesIO(PDF), "log.pdf")]},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    assert smtp_sink.received == []  # never from inside the request
    assert _deliver()["sent"] == 2
    first = {r.recipients[0]: r for r in smtp_sink.received}
    assert set(first) == {"ana@example.org", "ben@example.org"}
    message = first["ana@example.org"].message
    assert first["ana@example.org"].sender == "support@acme.example"
    assert message["From"] == "Acme Support <support@acme.example>"
    assert message["Reply-To"] == "Acme Support <support@acme.example>"
    assert message["To"] == "Ana Silva <ana@example.org>"
    assert message["Cc"] == "Ben <ben@example.org>"
    assert message["Subject"] == f"[SD-{number}] Printer on fire"
    assert re.fullmatch(rf"<\S*sd{number}\S*@acme\.example>", message["Message-ID"])
    assert message["In-Reply-To"] is None  # the first message of the ticket
    assert message["Auto-Submitted"] is None
    assert message.get_body(("plain",)).get_content().strip() == "**Fixed**, see the log."
    assert "<strong>Fixed</strong>" in message.get_body(("html",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "log.pdf"
    assert attachment.get_content() == PDF
    # Both recipients got the same message.
    assert first["ben@example.org"].message["Message-ID"] == message["Message-ID"]

    agent_client.post(f"/tickets/{number}/comments", data={"body": "And again."})
    _deliver()
    second = next(r.message for r in smtp_sink.received[2:] if r.recipients == ["ana@example.org"])
    assert second["Subject"] == f"Re: [SD-{number}] Printer on fire"
    assert second["In-Reply-To"] == message["Message-ID"]
    assert message["Message-ID"] in second["References"]
    stored = db.session.scalars(sa.select(MailMessage.message_id).order_by(MailMessage.id)).all()
    assert stored == [message["Message-ID"], second["Message-ID"]]

    page = agent_client.get(f"/tickets/{number}")
    assert len(re.findall(r"ana@example\.org:\s*sent <time", page.text)) == 2  # per reply


def test_internal_notes_and_rolled_back_replies_send_nothing(mail_app, smtp_sink):
    ticket = _ticket()
    actor = UserFactory()
    service.add_comment(ticket, author=actor, body="Staff only", is_internal=True)

    def reply_then_fail():
        with unit_of_work():
            service.add_comment(ticket, author=actor, body="Never mind", is_internal=False)
            raise RuntimeError("the request failed after the reply")

    with pytest.raises(RuntimeError):
        reply_then_fail()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailDelivery)) == 0
    assert _deliver() == {}
    assert smtp_sink.received == []


def test_smtp_down_then_up_is_delivered_after_the_retry(mail_app, smtp_sink):
    port = free_port()
    mail_app.settings["SMTP_URL"] = f"smtp://127.0.0.1:{port}"  # nothing listens yet
    ticket = _ticket()
    service.add_comment(ticket, author=UserFactory(), body="Hello", is_internal=False)
    assert _deliver()["retrying"] == 2
    row = db.session.scalars(sa.select(MailDelivery)).first()
    assert "ConnectionRefused" in row.last_error
    assert row.next_attempt_at > worker.utcnow() + dt.timedelta(seconds=40)  # 60 s ± 20 %
    assert _deliver() == {}  # not due yet
    sink, controller = start_sink(port)
    try:
        later = worker.utcnow() + dt.timedelta(minutes=2)
        assert _deliver(now=lambda: later)["sent"] == 2
        assert len(sink.received) == 2
    finally:
        controller.stop()


def test_451_then_250_delivers_once_and_550_fails_once_with_the_answer(
    mail_app, smtp_sink, agent_client
):
    ticket = _ticket()
    smtp_sink.rcpt_answers = ["451 4.3.0 Try again later", "550 5.1.1 mailbox unknown"]
    service.add_comment(ticket, author=UserFactory(), body="Hello", is_internal=False)
    counts = _deliver()
    assert (counts["retrying"], counts["failed"]) == (1, 1)
    later = worker.utcnow() + dt.timedelta(hours=1)
    assert _deliver(now=lambda: later)["sent"] == 1
    assert _deliver(now=lambda: later + dt.timedelta(days=2)) == {}  # no retry of a 5xx
    assert len(smtp_sink.received) == 1
    failed = db.session.scalars(
        sa.select(MailDelivery).where(MailDelivery.state == DeliveryState.FAILED)
    ).one()
    assert failed.last_error == "550 5.1.1 mailbox unknown"
    assert failed.attempts == 1
    page = agent_client.get(f"/tickets/{ticket.number}")
    assert "550 5.1.1 mailbox unknown" in page.text
    assert "Send again" in page.text
    again = agent_client.post(f"/mail/deliveries/{failed.id}/retry")
    assert again.status_code == 303
    assert db.session.get(MailDelivery, failed.id).state == DeliveryState.QUEUED
    assert _deliver()["sent"] == 1
    twice = agent_client.post(f"/mail/deliveries/{failed.id}/retry")  # sent: not again
    assert twice.status_code == 303
    assert "Only a failed or cancelled message" in agent_client.get(twice.headers["Location"]).text


def test_without_an_smtp_server_messages_are_written_to_the_outbox(mail_app, tmp_path,
                                                                   agent_client):  # fmt: skip
    mail_app.settings["SMTP_URL"] = None
    ticket = _ticket()
    agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "Written out"})
    assert _deliver()["written"] == 2
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert b"Written out" in files[0].read_bytes()
    assert "written to file" in agent_client.get(f"/tickets/{ticket.number}").text


def test_the_acknowledgement_is_an_auto_reply_never_to_a_blocked_customer(
    mail_app, smtp_sink, agent_client
):
    mail_app.settings["MAIL_ACK"] = True
    CustomerFactory(email="blocked@example.org", is_blocked=True)
    data = {"title": "Broken", "description": "d", "status": "open", "priority": "low",
            "assignee": ""}  # fmt: skip
    agent_client.post("/tickets/new", data={**data, "requester": "New <new@example.org>"})
    agent_client.post("/tickets/new", data={**data, "requester": "blocked@example.org"})
    assert _deliver()["sent"] == 1
    [ack] = smtp_sink.received
    assert ack.recipients == ["new@example.org"]
    assert ack.message["Auto-Submitted"] == "auto-replied"
    assert "We have received your request" in ack.message.get_body(("plain",)).get_content()
    ticket = db.session.scalars(sa.select(Ticket).where(Ticket.title == "Broken")
                                .order_by(Ticket.id)).first()  # fmt: skip
    agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": "On it."})
    _deliver()
    reply = smtp_sink.received[-1].message
    assert reply["In-Reply-To"] == ack.message["Message-ID"]  # the reply threads on the ack


HOSTILE = [
    "Eve\r\nBcc: x@evil.example", "Eve\nBcc: x@evil.example", "Eve\rBcc: x@evil.example",
    "Eve\x00Bcc", "\r\n\r\nX-Injected: 1", "Eve <x@evil.example>", '"Eve" <x@evil.example>',
    "Eve, x@evil.example", "Eve; x@evil.example", "=?utf-8?q?x=0D=0ABcc:_x@evil?=",
    "a" * 400, "Ünïcödé Nämé", "مرحبا‏", "\u202eevil", "🎫" * 40, "Eve\tTab", "Eve\x0bVT",
    "Eve\x1bEsc", "Eve\u2028Line", "Eve\u2029Para", "Eve\x85NEL", "(comment) Eve",
    "Eve <", ">", "<>", "\\", '"', "Eve\r\n To: x@evil.example", "Subject: x", "Bcc:",
    "x@evil.example", "Eve\r\n\tfolded", "Eve\r", "\n",
]  # fmt: skip


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_and_subjects_never_add_a_header_or_recipient(mail_app, smtp_sink,
                                                                    hostile):  # fmt: skip
    # Stored as they came (an import, an old row): the message builder is the last line.
    # (PostgreSQL cannot store NUL, and the app refuses it at the door: see below.)
    stored = hostile.replace("\x00", "\ufffd")
    ana = CustomerFactory(name=stored[:120], email="ana@example.org")
    ben = CustomerFactory(name=stored[::-1][:120], email="ben@example.org")
    ticket = TicketFactory(requester=ana, ccs=[ben], title=stored[:200] or "x")
    db.session.flush()
    service.add_comment(ticket, author=UserFactory(), body=stored.strip() or "x",
                        is_internal=False)  # fmt: skip
    assert _deliver()["sent"] == 2
    for received in smtp_sink.received:
        message = received.message
        assert received.recipients in (["ana@example.org"], ["ben@example.org"])
        assert message["Bcc"] is None
        assert message["X-Injected"] is None
        assert len(message.get_all("To")) == 1
        assert [a.addr_spec for a in message["To"].addresses] == ["ana@example.org"]
        assert [a.addr_spec for a in message["Cc"].addresses] == ["ben@example.org"]
        assert message["Subject"].startswith(f"[SD-{ticket.number}]")
        assert "\n" not in message["Subject"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_the_builder_alone_keeps_every_hostile_value_inside_its_header(hostile):
    raw = compose.build(compose.Outgoing(
        sender="Acme <support@acme.example>",
        to=compose.format_addresses([(hostile, "ana@example.org")]),
        cc=compose.format_addresses([(hostile[::-1], "ben@example.org")]),
        subject=f"[SD-1] {hostile}", message_id="<m1@acme.example>", in_reply_to=None,
        references="", date=dt.datetime.now(dt.UTC), text=hostile, html=Markup("x"),
        ticket_reference="SD-1",
    ))  # fmt: skip
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert sorted(set(message.keys())) == sorted({
        "From", "Reply-To", "To", "Cc", "Subject", "Date", "Message-ID",
        "X-Supportdesk-Ticket", "MIME-Version", "Content-Type"})  # fmt: skip
    assert [a.addr_spec for a in message["To"].addresses] == ["ana@example.org"]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["ben@example.org"]


def test_starttls_with_login_verifies_the_certificate(mail_app, tls_files, monkeypatch):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cr/t")

    sink, controller = start_sink(tls_context=context, require_starttls=True,
                                  authenticator=authenticate, auth_require_tls=True)  # fmt: skip
    try:
        # The desk trusts the system's CAs; SSL_CERT_FILE points them at the test's own.
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        mail_app.settings["SMTP_URL"] = (
            f"smtp+starttls://desk%40acme:s3cr%2Ft@127.0.0.1:{sink.port}"
        )
        ticket = _ticket()
        service.add_comment(ticket, author=UserFactory(), body="Over TLS", is_internal=False)
        assert _deliver()["sent"] == 2
        assert len(sink.received) == 2
        assert logins[0] == (b"desk@acme", b"s3cr/t")
        # A certificate the desk does not trust is a temporary failure, never plain text.
        monkeypatch.delenv("SSL_CERT_FILE")
        service.add_comment(db.session.get(Ticket, ticket.id), author=UserFactory(),
                            body="Untrusted", is_internal=False)  # fmt: skip
        counts = _deliver()
        assert counts["retrying"] == 2
        error = db.session.scalars(sa.select(MailDelivery.last_error).where(
            MailDelivery.state == DeliveryState.RETRYING)).first()  # fmt: skip
        assert "CERTIFICATE_VERIFY_FAILED" in error
        assert "s3cr" not in error  # credentials never appear in an error
        assert len(sink.received) == 2
    finally:
        controller.stop()


def test_smtps_speaks_tls_from_the_first_byte(mail_app, tls_files, monkeypatch):
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink, controller = start_sink(ssl_context=context)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        mail_app.settings["SMTP_URL"] = f"smtps://127.0.0.1:{sink.port}"
        ticket = _ticket()
        service.add_comment(ticket, author=UserFactory(), body="Implicit TLS", is_internal=False)
        assert _deliver()["sent"] == 2
        assert {r.recipients[0] for r in sink.received} == {"ana@example.org", "ben@example.org"}
    finally:
        controller.stop()


def test_a_missing_attachment_file_retries_and_says_which(mail_app, smtp_sink, agent_client):
    ticket = _ticket()
    agent_client.post(f"/tickets/{ticket.number}/comments",
                      data={"body": "See file", "attachments": [(io.BytesIO(PDF), "log.pdf")]},
                      content_type="multipart/form-data")  # fmt: skip
    attachment = db.session.scalars(sa.select(Attachment)).one()
    stored_path(attachment.sha256).unlink()
    assert _deliver()["retrying"] == 2
    error = db.session.scalars(sa.select(MailDelivery.last_error)).first()
    assert error == "the attachment 'log.pdf' is missing from storage"
    assert smtp_sink.received == []
