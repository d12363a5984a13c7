"""Mail in from real parts: Dovecot over IMAPS and STARTTLS, the MTA pipe, two fetchers.

The end-to-end test walks a conversation: a customer's message is APPENDed to the
mailbox, `flask mail fetch --once` makes the ticket, an agent answers (delivered by the
worker to the SMTP sink), the customer answers that (APPEND with In-Reply-To), and the
answer lands on the same ticket, reopening it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from supportdesk import worker
from supportdesk.attachments.models import Attachment
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.db import unit_of_work, utcnow
from supportdesk.extensions import db
from supportdesk.mail.models import InboundMessage, InboundOutcome
from supportdesk.models import Comment, Ticket
from supportdesk.tickets import service
from supportdesk.tickets.models import TicketStatus
from tests.factories import UserFactory
from tests.mail.inbound_helpers import message, receive

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
DONE = "Erledigt Ünïcode"  # a done folder with a space and non-ASCII letters


@pytest.fixture
def fetching(mail_in, monkeypatch, imap_server, imap_mailbox, smtp_sink):
    for name, value in {"IMAP_URL": (imap_server.url(imap_mailbox),),
                        "IMAP_CA_FILE": str(imap_server.ca_file), "IMAP_DONE_FOLDER": DONE,
                        "IMAP_DONE_ACTION": "move", "SMTP_URL": smtp_sink.url}.items():  # fmt: skip
        monkeypatch.setitem(mail_in.config, name, value)
    return mail_in


def _append(imap_server, user: str, raw: bytes, folder: str = "INBOX") -> None:
    client = imap_server.client(user)
    try:
        client.append(folder, raw)
    finally:
        client.logout()


def _count(imap_server, user: str, folder: str) -> int:
    client = imap_server.client(user)
    try:
        if not client.folder_exists(folder):
            return 0
        client.select_folder(folder, readonly=True)
        return len(client.search(["NOT", "DELETED"]))
    finally:
        client.logout()


def test_a_conversation_by_imap_and_smtp(fetching, runner, imap_server, imap_mailbox, smtp_sink):
    first = message(sender="Ana Silva <ana@example.org>", cc="Ben <ben@example.org>",
                    subject="Printer on fire", body="It smells of smoke.",
                    attachments=[("log.pdf", "application/pdf", PDF)])  # fmt: skip
    _append(imap_server, imap_mailbox, first)
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 fetched: 1 new ticket" in result.output
    assert _count(imap_server, imap_mailbox, "INBOX") == 0
    assert _count(imap_server, imap_mailbox, DONE) == 1
    ticket = db.session.scalars(sa.select(Ticket)).one()
    assert ticket.title == "Printer on fire"
    assert ticket.description == "It smells of smoke."
    assert db.session.get(Customer, ticket.requester_id).email == "ana@example.org"
    assert [c.email for c in _ccs(ticket)] == ["ben@example.org"]
    assert db.session.scalars(sa.select(Attachment.filename)).all() == ["log.pdf"]

    agent = UserFactory()
    with unit_of_work():
        service.add_comment(ticket, author=agent, body="Switch it off, please.", is_internal=False)
        service.change_status(ticket, TicketStatus.WAITING_ON_CUSTOMER, actor=agent)
    assert worker.run_once(name="test")["sent"] == 2
    to_ana = next(r.message for r in smtp_sink.received if r.recipients == ["ana@example.org"])
    assert to_ana["In-Reply-To"] == message_id_of(first)  # threaded under her message

    answer = message(sender="ana@example.org", subject=f"Re: {to_ana['Subject']}",
                     in_reply_to=to_ana["Message-ID"],
                     references=f"{message_id_of(first)} {to_ana['Message-ID']}",
                     body="Done, it is off.\n\nOn Monday Support wrote:\n> Switch it")  # fmt: skip
    _append(imap_server, imap_mailbox, answer)
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert "1 fetched: 1 reply" in result.output, result.output
    db.session.expire_all()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.status == TicketStatus.OPEN
    last = db.session.scalars(sa.select(Comment).order_by(Comment.id.desc()).limit(1)).one()
    assert (last.body, last.ticket_id) == ("Done, it is off.", ticket.id)
    # Fetching again finds nothing: every message was moved once.
    assert "0 fetched" in runner.invoke(args=["mail", "fetch", "--once"]).output


def _ccs(ticket: Ticket) -> list[Customer]:
    return list(db.session.scalars(
        sa.select(Customer).join(ticket_ccs, ticket_ccs.c.customer_id == Customer.id)
        .where(ticket_ccs.c.ticket_id == ticket.id).order_by(Customer.email)
    ))  # fmt: skip


def message_id_of(raw: bytes) -> str:
    import email

    return email.message_from_bytes(raw)["Message-ID"]


def test_starttls_and_delete_mode(fetching, monkeypatch, runner, imap_server, imap_mailbox):
    monkeypatch.setitem(
        fetching.config, "IMAP_URL", (imap_server.url(imap_mailbox, starttls=True),)
    )
    monkeypatch.setitem(fetching.config, "IMAP_DONE_ACTION", "delete")
    _append(imap_server, imap_mailbox, message(headers={"Auto-Submitted": "auto-replied"}))
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 fetched: 1 parked" in result.output
    assert _count(imap_server, imap_mailbox, "INBOX") == 0  # flagged deleted in place
    assert _count(imap_server, imap_mailbox, DONE) == 0


def test_mailbox_errors_are_one_line_and_exit_1(fetching, monkeypatch, runner, imap_server,
                                                imap_mailbox):  # fmt: skip
    wrong = imap_server.url(imap_mailbox).replace("imap-secret", "wrong")
    monkeypatch.setitem(fetching.config, "IMAP_URL", (wrong,))
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert result.exit_code == 1
    assert "Error: imaps://" in result.output
    assert "wrong" not in result.output
    assert "Traceback" not in result.output
    monkeypatch.setitem(fetching.config, "IMAP_CA_FILE", None)  # self-signed: refused
    monkeypatch.setitem(fetching.config, "IMAP_URL", (imap_server.url(imap_mailbox),))
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert result.exit_code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.output
    monkeypatch.setitem(fetching.config, "IMAP_URL", ())
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert result.exit_code == 1
    assert "SUPPORTDESK_IMAP_URL" in result.output


def test_receive_from_an_mta_pipe(mail_in, runner):
    result = runner.invoke(args=["mail", "receive"], input=message(subject="Piped"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ticket SD-")
    again = runner.invoke(args=["mail", "receive"], input=message(subject="Piped", message_id=None))
    assert again.exit_code == 0
    junk = runner.invoke(args=["mail", "receive"], input=b"\x00\x01 not mail")
    assert junk.exit_code == 65
    assert "not a mail message" in junk.output
    parked = runner.invoke(args=["mail", "receive"], input=message(headers={"X-Autoreply": "1"}))
    assert parked.exit_code == 0
    assert parked.output.startswith("parked")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 4


# Real processes on a database of their own


def _env(url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment of a `flask` process on ``url`` (SUPPORTDESK_ + each setting)."""
    return dict(os.environ, FLASK_APP="wsgi:app", SUPPORTDESK_DATABASE_URL=url,
                SUPPORTDESK_SECRET_KEY="fetch-test-secret",
                SUPPORTDESK_ATTACHMENT_DIR=str(tmp_path / "files"),
                SUPPORTDESK_OUTBOX_DIR=str(tmp_path / "outbox"),
                **{f"SUPPORTDESK_{k}": v for k, v in settings.items()})  # fmt: skip


def _flask(url: str, tmp_path: Path, *args: str, stdin: bytes | None = None
           ) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    return subprocess.run([FLASK, *args], cwd=ROOT, env=_env(url, tmp_path), input=stdin,  # noqa: S603
                          capture_output=True, timeout=120)  # fmt: skip


def test_two_fetchers_at_once_make_each_message_exactly_one_ticket_or_comment(
    desk, imap_server, imap_mailbox, tmp_path
):
    app, url = desk
    client = imap_server.client(imap_mailbox)
    try:
        for i in range(50):
            # Every fifth is a reply by subject to the first one (same sender).
            subject = f"Question {i}" if i % 5 else "Re: [SD-1000] more"
            client.append("INBOX", message(sender=f"c{i % 10}@example.org", subject=subject))
    finally:
        client.logout()
    settings = {"IMAP_URL": imap_server.url(imap_mailbox), "IMAP_CA_FILE": str(imap_server.ca_file)}
    env = _env(url, tmp_path, **settings)
    started = time.monotonic()
    fetchers = [subprocess.Popen([FLASK, "mail", "fetch", "--once"], cwd=ROOT, env=env,  # noqa: S603
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                for _ in range(2)]  # fmt: skip
    outputs = [f.communicate(timeout=120)[0].decode() for f in fetchers]
    assert [f.returncode for f in fetchers] == [0, 0], outputs
    assert "Traceback" not in "".join(outputs)
    assert time.monotonic() - started < 120
    with app.app_context():
        rows = db.session.execute(
            sa.select(InboundMessage.outcome, InboundMessage.ticket_id, InboundMessage.comment_id)
        ).all()
        tickets = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
        comments = db.session.scalar(sa.select(sa.func.count()).select_from(Comment))
        db.session.remove()
    assert len(rows) == 50  # each message stored once
    made = sum(1 for o, _, _ in rows if o == InboundOutcome.TICKET)
    replies = sum(1 for o, _, c in rows if o == InboundOutcome.REPLY and c is not None)
    assert made + replies == 50
    assert made == tickets
    assert replies == comments
    assert _count(imap_server, imap_mailbox, "INBOX") == 0
    assert _count(imap_server, imap_mailbox, "Processed") == 50


def test_receive_as_a_subprocess_and_with_the_database_away(desk, tmp_path):
    app, url = desk
    done = _flask(url, tmp_path, "mail", "receive", stdin=message(subject="From Postfix"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"ticket SD-")
    away = "postgresql+psycopg2://postgres@127.0.0.1:9/nowhere"  # port 9: nobody listens
    failed = _flask(away, tmp_path, "mail", "receive", stdin=message(subject="Lost?"))
    assert failed.returncode == 75, failed.stderr
    assert b"database is unreachable" in failed.stderr
    assert b"Traceback" not in failed.stderr
    not_mail = _flask(url, tmp_path, "mail", "receive", stdin=b"")
    assert not_mail.returncode == 65
    with app.app_context():
        subjects = db.session.scalars(sa.select(InboundMessage.subject)).all()
        db.session.remove()
    assert sorted(subjects) == ["", "From Postfix"]  # nothing of the failed one


def test_a_fetcher_that_died_after_storing_leaves_nothing_doubled(
    fetching, monkeypatch, runner, imap_server, imap_mailbox
):
    # Two mailboxes, one of them a folder with a space and non-ASCII letters.
    other = imap_server.next_user()
    client = imap_server.client(other)
    try:
        client.create_folder("Kunden Pöst")
    finally:
        client.logout()
    urls = (imap_server.url(imap_mailbox), imap_server.url(other, "Kunden Pöst"))
    monkeypatch.setitem(fetching.config, "IMAP_URL", urls)
    stored_earlier = message(subject="Stored, never moved")
    _append(imap_server, imap_mailbox, stored_earlier)
    _append(imap_server, other, message(subject="Second mailbox"), folder="Kunden Pöst")
    # The first fetcher stored it and died before moving it (a minute and more ago).
    receive(stored_earlier)
    with unit_of_work():
        db.session.execute(sa.update(InboundMessage).values(
            received_at=utcnow() - dt.timedelta(minutes=5)))  # fmt: skip
    result = runner.invoke(args=["mail", "fetch", "--once"])
    assert result.exit_code == 0, result.output
    assert "1 fetched: 1 duplicate" in result.output
    assert "All mailboxes: 2 fetched: 1 new ticket, 1 duplicate" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
    assert _count(imap_server, imap_mailbox, "INBOX") == 0
    assert _count(imap_server, other, "Kunden Pöst") == 0
    assert _count(imap_server, other, DONE) == 1
