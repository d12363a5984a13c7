"""The outbox page, cancelling, /health/worker and the outbox on /metrics."""

from __future__ import annotations

import datetime as dt
import re

import sqlalchemy as sa

from supportdesk import worker
from supportdesk.extensions import db
from supportdesk.mail.models import MailDelivery
from supportdesk.tickets import service
from supportdesk.worker import DeliveryState, WorkerBeat
from tests.factories import CustomerFactory, TicketFactory, UserFactory


def _queue(count: int) -> list[int]:
    agent = UserFactory()
    for i in range(count):
        ticket = TicketFactory(requester=CustomerFactory(email=f"c{i}@example.org"))
        db.session.flush()
        service.add_comment(ticket, author=agent, body="Hello", is_internal=False)
    return list(db.session.scalars(sa.select(MailDelivery.id).order_by(MailDelivery.id)))


def test_the_outbox_lists_filters_pages_and_cancels(admin_client):
    ids = _queue(55)
    page = admin_client.get("/mail/outbox")
    assert page.status_code == 200
    assert page.text.count("<td>c") == 50  # newest first, 50 a page
    assert "queued: 55" in page.text
    older_page = admin_client.get(re.search(r'href="(/mail/outbox\?before=\d+)"',
                                            page.text).group(1))  # fmt: skip
    assert older_page.text.count("<td>c") == 5
    # user, the page's rows (with subject and ticket), the counts by state
    assert page.headers["X-DB-Query-Count"] == older_page.headers["X-DB-Query-Count"] == "3"
    found = admin_client.get("/mail/outbox", query_string={"recipient": "c7@"})
    assert found.text.count("<td>c") == 1
    cancelled = admin_client.post(f"/mail/deliveries/{ids[0]}/cancel", data={"next": "outbox"})
    assert cancelled.headers["Location"].endswith("/mail/outbox")
    assert db.session.get(MailDelivery, ids[0]).state == DeliveryState.CANCELLED
    again = admin_client.post(f"/mail/deliveries/{ids[0]}/cancel", data={"next": "outbox"})
    assert "Only a queued or retrying message" in admin_client.get(again.headers["Location"]).text
    only = admin_client.get("/mail/outbox", query_string={"state": "cancelled"})
    assert only.text.count("<td>c") == 1
    assert "Send again" in only.text
    assert admin_client.get("/mail/outbox", query_string={"state": "nonsense"}).status_code == 200
    assert admin_client.post("/mail/deliveries/999999/retry").status_code == 404


def test_sent_mail_older_than_a_week_leaves_the_default_view(admin_client):
    ids = _queue(2)
    old = db.session.get(MailDelivery, ids[0])
    old.state, old.done_at = DeliveryState.SENT, worker.utcnow() - dt.timedelta(days=8)
    db.session.flush()
    assert admin_client.get("/mail/outbox").text.count("<td>c") == 1
    assert admin_client.get("/mail/outbox?state=sent").text.count("<td>c") == 1


def test_health_worker_says_when_a_worker_last_ran(app, client):
    assert client.get("/health/worker").status_code == 503  # none ever ran
    worker.beat("w1", progress=False)
    fresh = client.get("/health/worker")
    assert fresh.status_code == 200
    assert fresh.json["status"] == "ok"
    assert fresh.json["progress_at"] is None
    beat = db.session.get(WorkerBeat, "w1")
    beat.beat_at = worker.utcnow() - dt.timedelta(hours=1)
    db.session.flush()
    stale = client.get("/health/worker")
    assert stale.status_code == 503
    assert stale.json["status"] == "stale"


def test_the_outbox_is_counted_on_metrics(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "metrics-token-for-tests")
    _queue(3)
    body = client.get("/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"})
    assert 'supportdesk_mail_outbox{state="queued"} 3.0' in body.text
    assert 'supportdesk_mail_outbox{state="failed"} 0.0' in body.text
