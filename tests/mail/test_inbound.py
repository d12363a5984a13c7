"""Mail in: what a received message becomes, on both backends."""

from __future__ import annotations

import re

import sqlalchemy as sa

from supportdesk import worker
from supportdesk.attachments.models import Attachment
from supportdesk.audit.context import acting_as
from supportdesk.audit.models import AuditLog
from supportdesk.customers.models import Customer, ticket_ccs
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.mail import inbound
from supportdesk.mail.models import (
    InboundOutcome,
    MailDelivery,
    MailKind,
    MailMessage,
    ParkReason,
)
from supportdesk.models import Comment, Ticket
from supportdesk.tickets import followers, service
from supportdesk.tickets.models import TicketFollower, TicketStatus
from supportdesk.worker import DeliveryState
from tests.factories import CustomerFactory, TicketFactory, UserFactory
from tests.mail.inbound_helpers import message, receive, stored

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64


def _ticket(number: int) -> Ticket:
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def _comments(ticket: Ticket) -> list[Comment]:
    return list(db.session.scalars(
        sa.select(Comment).where(Comment.ticket_id == ticket.id).order_by(Comment.id)
    ))  # fmt: skip


def _notification() -> tuple[MailMessage, list[str]]:
    """The one staff notification recorded, and who it goes to."""
    notify = db.session.scalars(
        sa.select(MailMessage).where(MailMessage.kind == MailKind.NOTIFY)
    ).one()
    recipients = db.session.scalars(
        sa.select(MailDelivery.recipient).where(MailDelivery.mail_id == notify.id)
    ).all()
    return notify, list(recipients)


def _sent_reply(ticket: Ticket, agent) -> str:
    """An agent's public reply; return the Message-ID the desk gave its email."""
    with unit_of_work():
        service.add_comment(ticket, author=agent, body="Try turning it off.", is_internal=False)
    return db.session.scalar(
        sa.select(MailMessage.message_id).where(MailMessage.ticket_id == ticket.id)
        .order_by(MailMessage.id.desc()).limit(1)
    )  # fmt: skip


def test_a_new_message_opens_a_ticket_with_requester_ccs_body_and_files(mail_in):
    raw = message(
        sender="Ana Silva <ana@example.org>",
        to="Acme Support <support@acme.example>, Help <help@acme.example>",
        cc="Ben Ode <ben@example.org>, ana@example.org",
        subject="Printer on fire", body="It smells of smoke.\n\nAna",
        attachments=[("log.pdf", "application/pdf", PDF),
                     ("setup.exe", "application/x-msdownload", EXE)],
    )  # fmt: skip
    result = receive(raw)
    assert result.outcome == InboundOutcome.TICKET
    ticket = _ticket(result.ticket_number)
    assert ticket.title == "Printer on fire"
    assert ticket.version == 1  # the email facts go in with the INSERT, not a second UPDATE
    assert ticket.description.startswith("It smells of smoke.\n\nAna")
    assert "setup.exe is not a file type the desk accepts" in ticket.description
    requester = db.session.get(Customer, ticket.requester_id)
    assert (requester.email, requester.name) == ("ana@example.org", "Ana Silva")
    ccs = db.session.scalars(
        sa.select(Customer.email).join(ticket_ccs, ticket_ccs.c.customer_id == Customer.id)
        .where(ticket_ccs.c.ticket_id == ticket.id)
    ).all()  # fmt: skip
    assert ccs == ["ben@example.org"]  # not the desk's addresses, not the requester
    files = db.session.scalars(sa.select(Attachment).where(Attachment.ticket_id == ticket.id)).all()
    assert [(f.filename, f.content_type, f.comment_id) for f in files] == [
        ("log.pdf", "application/pdf", None)
    ]
    assert ticket.via_email["from"] == "Ana Silva <ana@example.org>"
    assert ticket.via_email["refused"]
    assert "setup.exe" in ticket.via_email["refused"][0]
    [row] = stored()
    assert row.raw == raw
    assert row.ticket_id == ticket.id
    assert row.sender == "ana@example.org"
    created = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "ticket.created",
                                  AuditLog.entity_id == ticket.id)
    ).one()  # fmt: skip
    assert (created.actor_type, created.actor_label, created.source) == (
        "customer",
        "ana@example.org",
        "email",
    )


def test_the_same_message_twice_lands_once(mail_in):
    raw = message()
    first, second = receive(raw), receive(raw)
    assert first.outcome == InboundOutcome.TICKET
    assert second.outcome is None
    assert second.label == "duplicate"
    assert second.ticket_number == first.ticket_number
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    no_id = message(message_id=None)
    assert receive(no_id).outcome == InboundOutcome.TICKET
    assert receive(no_id).label == "duplicate"  # by the hash of its bytes
    assert len(stored()) == 2


def test_a_reply_by_message_id_is_a_customer_comment_and_reopens(mail_in):
    ana = CustomerFactory(email="ana@example.org", name="Ana")
    agent = UserFactory()
    ticket = TicketFactory(requester=ana, assignee=agent)
    sent = _sent_reply(ticket, agent)
    with acting_as(agent), unit_of_work():
        service.change_status(ticket, TicketStatus.RESOLVED, actor=agent)
    version = ticket.version
    raw = message(subject="Re: whatever the client made of it", in_reply_to=sent,
                  references=sent,
                  body="Still broken.\n\nOn Monday Support wrote:\n> Try it")  # fmt: skip
    result = receive(raw)
    assert result.outcome == InboundOutcome.REPLY
    assert result.ticket_number == ticket.number
    ticket = _ticket(ticket.number)
    assert ticket.status == TicketStatus.OPEN
    assert ticket.version == version + 1
    comment = _comments(ticket)[-1]
    assert (comment.body, comment.customer_id, comment.is_internal) == (
        "Still broken.",
        ana.id,
        False,
    )
    assert comment.quoted.startswith("On Monday Support wrote:")
    assert ticket.first_reply_at is not None  # the agent's reply, not the customer's
    reopened = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "ticket.updated",
                                  AuditLog.entity_id == ticket.id).order_by(AuditLog.id.desc())
    ).first()  # fmt: skip
    assert reopened.changes["status"] == {"old": "resolved", "new": "open"}
    assert (reopened.actor_type, reopened.source) == ("customer", "email")
    # The assignee hears of it by email, through the worker; the customer gets no echo.
    notify, recipients = _notification()
    assert recipients == [agent.email]


def test_a_reference_in_the_subject_threads_only_for_the_requester_or_a_cc(mail_in):
    ana = CustomerFactory(email="ana@example.org")
    ben = CustomerFactory(email="ben@example.org")
    ticket = TicketFactory(requester=ana, ccs=[ben])
    ref = f"SD-{ticket.number}"
    assert receive(message(subject=f"AW: [{ref}] more")).outcome == InboundOutcome.REPLY
    assert receive(message(sender="ben@example.org", subject=f"Fwd: Re: ([{ref}])")
                   ).outcome == InboundOutcome.REPLY  # fmt: skip
    stranger = receive(message(sender="eve@evil.example", subject=f"Re: [{ref}] give me"))
    assert stranger.outcome == InboundOutcome.TICKET
    assert stranger.ticket_number != ticket.number
    assert f"[{ref}](/tickets/{ticket.number})" in _ticket(stranger.ticket_number).description
    assert len(_comments(ticket)) == 2


def test_a_reply_to_a_closed_ticket_opens_one_follow_up(mail_in):
    ana = CustomerFactory(email="ana@example.org")
    ticket = TicketFactory(requester=ana, status=TicketStatus.CLOSED)
    raw = message(subject=f"Re: [SD-{ticket.number}] thanks")
    first, again = receive(raw), receive(raw)
    assert first.outcome == InboundOutcome.TICKET
    assert again.label == "duplicate"
    follow_up = _ticket(first.ticket_number)
    assert follow_up.description.startswith(f"Follow-up to [SD-{ticket.number}]")
    assert _ticket(ticket.number).status == TicketStatus.CLOSED
    assert _comments(ticket) == []


def test_a_reply_to_a_merged_ticket_lands_where_it_was_merged(mail_in):
    ana = CustomerFactory(email="ana@example.org")
    target = TicketFactory(requester=ana)
    source = TicketFactory(requester=ana, status=TicketStatus.CLOSED, merged_into_id=None)
    db.session.flush()
    source.merged_into_id = target.id
    result = receive(message(subject=f"Re: [SD-{source.number}]"))
    assert (result.outcome, result.ticket_number) == (InboundOutcome.REPLY, target.number)


def test_automatic_mail_is_parked_and_never_answered(mail_in, monkeypatch):
    monkeypatch.setitem(mail_in.config, "MAIL_ACK", True)
    cases = {
        "Auto-Submitted": ("auto-replied", ParkReason.AUTO_REPLY),
        "X-Autoreply": ("yes", ParkReason.AUTO_REPLY),
        "X-Autorespond": ("1", ParkReason.AUTO_REPLY),
        "X-Auto-Response-Suppress": ("All", ParkReason.AUTO_REPLY),
        "Precedence": ("bulk", ParkReason.AUTO_REPLY),
        "List-Id": ("<news.shop.example>", ParkReason.NEWSLETTER),
        "X-Supportdesk-Ticket": ("SD-1", ParkReason.OWN_MESSAGE),
    }
    for header, (value, reason) in cases.items():
        result = receive(message(headers={header: value}))
        assert (result.outcome, result.reason) == (InboundOutcome.PARKED, reason), header
    assert receive(message(headers={"Auto-Submitted": "no"})).outcome == InboundOutcome.TICKET
    own = receive(message(sender="support@acme.example"))
    assert own.reason == ParkReason.OWN_MESSAGE
    own_id = receive(message(message_id="<sd12.0123456789abcdef0123456789abcdef@acme.example>"))
    assert own_id.reason == ParkReason.OWN_MESSAGE
    # Only the one real ticket was acknowledged; nothing answers a parked message.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailDelivery)) == 1


def test_list_mail_from_a_requester_with_an_open_ticket_is_not_parked(mail_in):
    ana = CustomerFactory(email="ana@example.org")
    TicketFactory(requester=ana)
    result = receive(message(headers={"List-Unsubscribe": "<mailto:leave@lists.example>"}))
    assert result.outcome == InboundOutcome.TICKET


def test_blocked_customers_and_busy_senders_are_parked(mail_in, monkeypatch):
    CustomerFactory(email="spam@example.net", is_blocked=True)
    assert receive(message(sender="spam@example.net")).reason == ParkReason.BLOCKED
    monkeypatch.setitem(mail_in.config, "MAIL_SENDER_LIMIT", 2)
    outcomes = [receive(message(sender="loop@example.net")).outcome for _ in range(3)]
    assert outcomes == [InboundOutcome.TICKET, InboundOutcome.TICKET, InboundOutcome.PARKED]
    assert stored()[-1].park_reason == ParkReason.SENDER_LIMIT


def test_a_staff_members_emailed_answer_is_parked_not_a_customer_comment(mail_in):
    agent = UserFactory(email="agent@acme.example")
    ticket = TicketFactory()
    sent = _sent_reply(ticket, agent)
    result = receive(message(sender=agent.email, in_reply_to=sent))
    assert result.reason == ParkReason.STAFF
    assert _comments(ticket)[-1].customer_id is None


def test_a_bounce_of_our_reply_marks_that_delivery_failed(mail_in):
    ana = CustomerFactory(email="ana@example.org")
    agent = UserFactory()
    ticket = TicketFactory(requester=ana)
    sent = _sent_reply(ticket, agent)
    dsn = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        "To: support@acme.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce.1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThe mail system could not deliver it.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n"
        "\r\nFinal-Recipient: rfc822; ana@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <ana@example.org>: mailbox unknown\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {sent}\r\n"
        "Subject: whatever\r\n--B--\r\n"
    ).encode()
    result = receive(dsn)
    assert (result.outcome, result.reason) == (InboundOutcome.PARKED, ParkReason.BOUNCE)
    delivery = db.session.scalars(sa.select(MailDelivery)).one()
    assert delivery.state == DeliveryState.FAILED
    assert "mailbox unknown" in delivery.last_error
    assert stored()[-1].ticket_id == ticket.id
    # A bounce is never answered and never queued again by the worker.
    assert worker.run_once(name="test") == {}


def test_too_big_and_not_mail_are_kept_and_parked(mail_in, monkeypatch):
    monkeypatch.setitem(mail_in.config, "MAIL_MAX_BYTES", 2048)
    big = message(body="x" * 5000)
    result = receive(big)
    assert result.reason == ParkReason.TOO_BIG
    assert stored()[-1].raw == big
    assert stored()[-1].sender == "ana@example.org"
    for junk in (b"", b"\x00\xff\xfe binary", b"just some words\nno headers"):
        assert receive(junk).reason == ParkReason.NOT_MAIL
    assert len(stored()) == 4


def test_a_parked_message_can_be_made_a_ticket_or_deleted(mail_in, admin_client):
    receive(message(headers={"Auto-Submitted": "auto-generated"}, subject="Out of office"))
    receive(message(headers={"Precedence": "junk"}, subject="Buy now"))
    keep, drop = stored()
    keep_id, keep_raw = keep.id, keep.raw
    page = admin_client.get("/mail/parked")
    assert page.status_code == 200
    assert "Out of office" in page.text
    assert "Buy now" in page.text
    response = admin_client.post(f"/mail/parked/{keep_id}/ticket")
    assert response.status_code == 303
    ticket = db.session.scalars(sa.select(Ticket)).one()
    assert response.location.endswith(f"/tickets/{ticket.number}")
    assert admin_client.post(f"/mail/parked/{drop.id}/delete").status_code == 303
    assert [r.outcome for r in stored()] == [InboundOutcome.TICKET]
    assert admin_client.post(f"/mail/parked/{keep_id}/delete").status_code == 404  # a ticket now
    original = admin_client.get(f"/mail/received/{keep_id}/original.eml")
    assert original.mimetype == "message/rfc822"
    assert original.headers["Content-Disposition"].startswith("attachment;")
    assert original.data == keep_raw


def test_agents_see_email_facts_and_originals_but_not_parked_mail(mail_in, agent_client):
    ana = CustomerFactory(email="ana@example.org", name="Ana Silva")
    ticket = TicketFactory(requester=ana)
    receive(message(subject=f"[SD-{ticket.number}] update",
                    body="New detail.\n\nOn Tue, Support wrote:\n> older text"))  # fmt: skip
    receive(message(headers={"X-Autoreply": "yes"}))
    replied, parked = stored()
    page = agent_client.get(f"/tickets/{ticket.number}")
    assert "By email" in page.text
    assert "Show quoted text" in page.text
    assert "Ana Silva" in page.text
    assert f"/mail/received/{replied.id}/original.eml" in page.text
    assert agent_client.get(f"/mail/received/{replied.id}/original.eml").status_code == 200
    assert agent_client.get(f"/mail/received/{parked.id}/original.eml").status_code == 404
    assert agent_client.get("/mail/parked").status_code == 403


def test_a_message_that_trips_a_bug_is_kept_and_parked(mail_in, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(inbound, "_thread", broken)
    result = receive(message())
    assert result.reason == ParkReason.UNPARSEABLE
    assert "KeyError" in result.detail
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_the_mail_account_follows_nothing_and_followers_hear_of_replies(mail_in):
    ana = CustomerFactory(email="ana@example.org")
    result = receive(message(sender="ana@example.org"))
    ticket = _ticket(result.ticket_number)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(TicketFollower)) == 0
    colleague, away = UserFactory(), UserFactory(is_active=False)
    with unit_of_work():
        followers.follow([ticket.id], colleague.id)
        followers.follow([ticket.id], away.id)
    receive(message(sender=ana.email, subject=f"Re: [SD-{ticket.number}] and more"))
    notify, recipients = _notification()
    assert recipients == [colleague.email]  # not the inactive one, not the mail account
    assert notify.in_reply_to is None  # not threaded into the customer's conversation


def test_no_staff_email_when_notifications_are_off(mail_in, monkeypatch):
    monkeypatch.setitem(mail_in.config, "NOTIFY_STAFF", False)
    agent = UserFactory()
    ticket = TicketFactory(requester=CustomerFactory(email="ana@example.org"), assignee=agent)
    receive(message(subject=f"[SD-{ticket.number}] hello"))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(MailMessage)) == 0


def test_the_parked_list_pages_filters_and_has_a_statement_budget(mail_in, admin_client):
    for i in range(53):
        header = {"X-Autoreply": "yes"} if i % 2 else {"List-Id": "<news.example>"}
        receive(message(sender=f"robot{i}@auto.example", subject=f"Robot {i}", headers=header))
    page = admin_client.get("/mail/parked")
    assert page.status_code == 200
    assert page.text.count("robot") == 50  # newest first, 50 a page
    older = admin_client.get(re.search(r'href="(/mail/parked\?before=\d+)"', page.text).group(1))
    assert older.text.count("robot") == 3
    # user, the page's rows (with their tickets' numbers): never the raw bytes
    assert page.headers["X-DB-Query-Count"] == older.headers["X-DB-Query-Count"] == "2"
    lists = admin_client.get("/mail/parked", query_string={"reason": "newsletter"})
    assert lists.text.count("robot") == 27
    assert admin_client.get("/mail/parked", query_string={"reason": "nonsense"}).status_code == 200


def test_staff_who_asked_as_a_customer_are_answered_like_one(mail_in):
    agent = UserFactory(email="it-agent@acme.example")
    as_customer = CustomerFactory(email="it-agent@acme.example")
    ticket = TicketFactory(requester=as_customer)
    result = receive(message(sender=agent.email, subject=f"Re: [SD-{ticket.number}] my laptop"))
    assert result.outcome == InboundOutcome.REPLY


def test_a_body_over_the_text_limit_is_cut_and_points_at_the_original(mail_in, monkeypatch):
    monkeypatch.setitem(mail_in.config, "MAX_TEXT_CHARS", 3_000)
    result = receive(message(body="word " * 2_000))
    ticket = _ticket(result.ticket_number)
    assert len(ticket.description) <= 3_000
    assert "the whole of it is in the original message (.eml)" in ticket.description
    assert len(stored()[0].raw) > 10_000  # kept whole
