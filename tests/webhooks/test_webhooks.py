"""Webhooks: recorded with the change, signed, retried, refused inside the network, shown."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa

from supportdesk import worker
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.mail.notices import StaffNotice
from supportdesk.mail.service import outbox_dir
from supportdesk.models import AuditLog, TicketStatus
from supportdesk.tickets import bulk
from supportdesk.tickets import service as tickets
from supportdesk.tickets.rules import TicketEdit
from supportdesk.webhooks import http, service
from supportdesk.webhooks.models import Webhook, WebhookAttempt, WebhookDelivery
from tests.factories import TicketFactory, UserFactory


class Receiver:
    """A webhook receiver on loopback that answers with the statuses it is given."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks_app(app):
    """The app with the development settings the tests' loopback receiver needs."""
    for name in ("WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_PRIVATE"):
        app.config[name] = True
    service.forget_hooks()
    yield app
    for name in ("WEBHOOK_ALLOW_HTTP", "WEBHOOK_ALLOW_PRIVATE"):
        app.config[name] = False
    service.forget_hooks()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        made.append(Receiver(list(statuses or [])))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _hook(url: str, events=("ticket.created", "comment.created"), owner=None) -> Webhook:
    return service.create_hook(service.HookValues(url=url, events=list(events)),
                               owner=owner or UserFactory(admin=True))  # fmt: skip


def _run(now=None) -> Any:
    counts = worker.run_once(name="test", now=now or utcnow)
    db.session.remove()
    return counts


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(secret.encode(), headers["X-Supportdesk-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()  # fmt: skip
    return hmac.compare_digest("sha256=" + expected, headers["X-Supportdesk-Signature"])


def test_a_new_ticket_and_a_reply_reach_the_receiver_signed(hooks_app, receiver):
    target = receiver()
    hook = _hook(target.url)
    secret = hook.secret
    ticket = TicketFactory()
    tickets.add_comment(ticket, author=ticket.creator, body="On it", is_internal=False)
    created = tickets.create_ticket(title="VPN down", description="Since 9", creator=ticket.creator,
                                    requester=ticket.requester)  # fmt: skip
    number = created.number
    db.session.commit()
    queued = db.session.scalars(sa.select(WebhookDelivery.event).order_by(WebhookDelivery.id)).all()
    assert queued == ["comment.created", "ticket.created"]
    assert _run()["sent"] == 2
    assert len(target.received) == 2
    for headers, body in target.received:
        assert _verify(secret, headers, body)
        assert headers["Content-Type"] == "application/json"
        payload = json.loads(body)
        assert payload["event"] == headers["X-Supportdesk-Event"]
    payload = json.loads(target.received[1][1])
    assert payload["data"]["ticket"]["number"] == number
    assert payload["data"]["ticket"]["due_is_manual"] is False  # the SLA's time
    assert dt.datetime.fromisoformat(payload["data"]["ticket"]["due_at"]) > utcnow()
    assert json.loads(target.received[0][1])["data"]["comment"]["body"] == "On it"
    attempts = db.session.scalars(sa.select(WebhookAttempt.status_code)).all()
    assert attempts == [200, 200]


def test_a_tampered_body_or_another_secret_does_not_verify(hooks_app, receiver):
    target = receiver()
    hook = _hook(target.url)
    secret = hook.secret
    tickets.create_ticket(title="x", description="y", creator=UserFactory(),
                          requester=TicketFactory().requester)  # fmt: skip
    _run()
    headers, body = target.received[0]
    assert _verify(secret, headers, body)
    assert not _verify(secret, headers, body.replace(b"x", b"z", 1))
    assert not _verify("another secret", headers, body)
    stale = dict(headers, **{"X-Supportdesk-Timestamp": str(int(headers["X-Supportdesk-Timestamp"])
                                                             - 1)})  # fmt: skip
    assert not _verify(secret, stale, body)  # the timestamp is signed too


def test_500_then_200_is_delivered_twice_at_most_with_both_attempts(hooks_app, receiver):
    target = receiver([500])
    _hook(target.url, events=["ticket.created"])
    tickets.create_ticket(title="x", description="y", creator=UserFactory(),
                          requester=TicketFactory().requester)  # fmt: skip
    db.session.commit()
    assert _run() == {"retrying": 1}
    delivery = db.session.scalars(sa.select(WebhookDelivery)).one()
    assert delivery.next_attempt_at > utcnow()  # backoff: not at once
    assert _run() == {}  # not due yet
    later = utcnow() + dt.timedelta(seconds=hooks_app.config["WEBHOOK_RETRY_SECONDS"] * 2)
    assert _run(now=lambda: later) == {"sent": 1}
    assert _run(now=lambda: later + dt.timedelta(hours=1)) == {}
    assert len(target.received) == 2
    assert target.received[0][1] == target.received[1][1]  # the same event, the same body
    attempts = db.session.scalars(sa.select(WebhookAttempt.status_code).order_by(WebhookAttempt.id))
    assert list(attempts) == [500, 200]
    hook = db.session.scalars(sa.select(Webhook)).one()
    assert hook.failing_since is None


def test_a_hook_failing_for_a_day_is_turned_off_and_its_owner_told(hooks_app, receiver):
    target = receiver([503] * 10)
    owner = UserFactory(admin=True)
    hook = _hook(target.url, events=["ticket.created", "ticket.updated"], owner=owner)
    hook_id, owner_id, url = hook.id, owner.id, hook.url
    ticket = tickets.create_ticket(title="x", description="y", creator=owner,
                                   requester=TicketFactory().requester)  # fmt: skip
    tickets.update_ticket(ticket, TicketEdit(title="x2"), actor=owner)
    db.session.commit()
    assert _run() == {"retrying": 2}
    hook = db.session.get(Webhook, hook_id)
    hook.failing_since = utcnow() - dt.timedelta(hours=25)
    db.session.commit()
    later = utcnow() + dt.timedelta(hours=1)
    counts = _run(now=lambda: later)
    hook = db.session.get(Webhook, hook_id)
    assert not hook.is_active
    assert "failed for 24 hours" in hook.disabled_reason
    # Both deliveries (the one that failed last, and the one queued behind it) cancelled.
    states = db.session.scalars(sa.select(WebhookDelivery.state)).all()
    assert states == ["cancelled", "cancelled"]
    assert counts == {"lost-claim": 2}
    notice = db.session.scalars(sa.select(StaffNotice)).one()
    assert notice.user_id == owner_id
    assert url in notice.body
    assert _run() == {"written": 1}  # mailed (no SMTP server here: to the outbox folder)
    mailed = next(outbox_dir().glob("*-notice-*.eml")).read_text()
    assert "Subject: A webhook was turned off" in mailed
    assert "Auto-Submitted: auto-generated" in mailed
    turned_off = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "webhook.updated")
                                    .order_by(AuditLog.id.desc())).first()  # fmt: skip
    assert turned_off.source == "system"
    assert turned_off.changes["is_active"] == {"old": True, "new": False}


def test_bulk_edits_and_the_trash_are_events_too(hooks_app, receiver):
    target = receiver()
    _hook(target.url, events=["ticket.updated", "ticket.deleted"])
    agent = UserFactory()
    a, b = TicketFactory(), TicketFactory()
    bulk.bulk_update([a.id, b.id], action="status", value=TicketStatus.RESOLVED.value, actor=agent)
    tickets.delete_ticket(a, actor=agent)
    numbers = a.number, b.number
    db.session.commit()
    _run()
    a, b = (type("T", (), {"number": n}) for n in numbers)
    events = sorted((json.loads(body)["event"], json.loads(body)["data"]["ticket"]["number"])
                    for _, body in target.received)  # fmt: skip
    assert events == sorted([("ticket.updated", a.number), ("ticket.updated", b.number),
                             ("ticket.deleted", a.number)])  # fmt: skip
    updated = [json.loads(body) for _, body in target.received
               if json.loads(body)["event"] == "ticket.updated"]  # fmt: skip
    assert {u["data"]["ticket"]["status"] for u in updated} == {"resolved"}
    assert all(u["data"]["changed"] == ["status"] for u in updated)


def test_an_unsubscribed_or_turned_off_hook_gets_nothing(hooks_app, receiver):
    target = receiver()
    _hook(target.url, events=["comment.created"])
    off = _hook(target.url, events=["ticket.created"])
    service.update_hook(off, service.HookValues(url=off.url, events=["ticket.created"],
                                                is_active=False))  # fmt: skip
    tickets.create_ticket(title="x", description="y", creator=UserFactory(),
                          requester=TicketFactory().requester)  # fmt: skip
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0


# --- SSRF ----------------------------------------------------------------------------

FORBIDDEN = ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254",
             "100.64.0.1", "224.0.0.251", "::1", "fe80::1", "fc00::5", "::ffff:127.0.0.1",
             "ff02::1", "0.0.0.0"]  # noqa: S104  # fmt: skip


@pytest.mark.parametrize("address", FORBIDDEN)
def test_names_resolving_inside_the_network_are_refused(app, monkeypatch, address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def resolve(host, port, *args, **kwargs):
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(service.InvalidWebhookError, match="inside a private"):
        _hook("https://hooks.example.org/in")
    with pytest.raises(http.RefusedURLError):
        http.post("https://hooks.example.org/in", b"{}", {}, timeout=1, allow_http=False,
                  allow_private=False)  # fmt: skip


def test_a_name_that_turns_private_after_registration_is_refused_at_delivery(app, monkeypatch):
    answers = {"hooks.example.org": "93.184.216.34"}
    connected: list[Any] = []

    def resolve(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    hook_id = _hook("https://hooks.example.org/in", events=["ticket.created"]).id
    tickets.create_ticket(title="x", description="y", creator=UserFactory(),
                          requester=TicketFactory().requester)  # fmt: skip
    db.session.commit()
    answers["hooks.example.org"] = "127.0.0.1"  # DNS rebinding
    assert _run() == {"failed": 1}
    assert connected == []  # nothing was sent anywhere
    attempt = db.session.scalars(sa.select(WebhookAttempt)).one()
    assert "127.0.0.1" in attempt.error
    assert db.session.get(Webhook, hook_id).failing_since is not None


@pytest.mark.parametrize(("url", "message"), [
    ("http://hooks.example.org/in", "must start with https://"),
    ("ftp://hooks.example.org/in", "must start with https://"),
    ("https://user:pw@hooks.example.org/in", "no user name or password"),
    ("https:///nohost", "no host"),
    ("https://hooks.example.org:99999/", "Not a URL"),
])  # fmt: skip
def test_urls_that_are_not_https_urls_are_refused(app, url, message):
    with pytest.raises(service.InvalidWebhookError, match=message):
        _hook(url)


def test_no_event_chosen_is_refused(hooks_app, receiver):
    with pytest.raises(service.InvalidWebhookError, match="at least one event"):
        _hook(receiver().url, events=[])


# --- the admin pages -----------------------------------------------------------------


def test_admins_register_a_hook_see_its_secret_once_and_its_deliveries(hooks_app, receiver,
                                                                       admin_client):  # fmt: skip
    target = receiver()
    refused = admin_client.post("/settings/webhooks/", data={"url": "gopher://x", "events":
                                                             ["ticket.created"]})  # fmt: skip
    assert refused.status_code == 422
    assert "must start with https://" in refused.text
    made = admin_client.post("/settings/webhooks/", data={
        "url": target.url, "events": ["ticket.created", "comment.created"], "is_active": "y",
        "description": "CRM"})  # fmt: skip
    assert made.status_code == 200
    hook = db.session.scalars(sa.select(Webhook)).one()
    secret = hook.secret
    assert secret in made.text
    page = admin_client.get(f"/settings/webhooks/{hook.id}")
    assert secret not in page.text
    assert admin_client.post(f"/settings/webhooks/{hook.id}/ping").status_code == 303
    _run()
    page = admin_client.get(f"/settings/webhooks/{hook.id}")
    assert "ping" in page.text
    assert "200 in" in page.text
    renewed = admin_client.post(f"/settings/webhooks/{hook.id}/secret")
    new_secret = db.session.get(Webhook, hook.id).secret
    assert new_secret != secret
    assert new_secret in renewed.text
    created = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "webhook.created")
                                 ).one()  # fmt: skip
    assert new_secret not in json.dumps(created.changes)
    assert admin_client.post(f"/settings/webhooks/{hook.id}/delete").status_code == 303
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0
