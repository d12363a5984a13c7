"""Every page of the desk as an admin sees it, on a desk with something on every page.

The markup test validates each; the browser checks visit the main ones. A GET route
that answers HTML is collected automatically: a new page is checked without being
listed anywhere.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask

from supportdesk.extensions import db
from supportdesk.mail.models import InboundMessage, InboundOutcome
from supportdesk.models import Attachment, MailDelivery
from supportdesk.tickets import service
from tests.conftest import PASSWORD
from tests.factories import CommentFactory, MacroFactory, TagFactory, TicketFactory, UserFactory

# Pages that are not HTML pages of the desk, or need what a test cannot give.
SKIP = {"static", "api-docs.openapi_json", "attachments.download", "mail.original",
        "tickets.export_csv", "audit.export", "auth.security_txt", "metrics.metrics",
        "health.health", "health.database", "health.worker_health",
        "auth.reset_password"}  # fmt: skip


def furnish() -> dict[str, Any]:
    """Make a desk with a ticket (replies, a note, tags, a file), a macro and a hook."""
    admin = UserFactory(admin=True, email="admin@example.org", full_name="Ada Admin")
    tags = TagFactory.create_batch(3)
    ticket = TicketFactory(tags=tags, assignee=admin)
    for i in range(3):
        CommentFactory(ticket=ticket, is_internal=i == 2, body=f"Reply **{i}**")
    db.session.add(Attachment(ticket_id=ticket.id, uploader=admin, filename="log.txt",
                              content_type="text/plain", size=1, sha256="0" * 64))  # fmt: skip
    for _ in range(3):
        TicketFactory(assignee=admin)
    macro = MacroFactory()
    service.add_comment(ticket, author=admin, body="Mailed", is_internal=False)
    delivery = db.session.scalars(sa.select(MailDelivery)).first()
    received = InboundMessage(source="test", dedupe_key="pages", sender="a@example.org",
                              size=3, raw=b"x: y", outcome=InboundOutcome.PARKED)  # fmt: skip
    db.session.add(received)
    db.session.flush()
    return {"admin": admin, "number": ticket.number, "tag_id": tags[0].id,
            "user_id": admin.id, "macro_id": macro.id, "customer_id": ticket.requester_id,
            "delivery_id": delivery.id if delivery else 1, "message_id": received.id,
            "token": "x", "token_id": 1, "hook_id": 1, "attachment_id": 1}  # fmt: skip


def collect(app: Flask, client: Any) -> dict[str, str]:
    """Return {label: html} of every HTML page (logged in as an admin), and the login page."""
    values = furnish()
    pages = {"login (anonymous)": app.test_client().get("/login").text}
    assert client.post("/login", data={"email": values["admin"].email,
                                       "password": PASSWORD}).status_code == 303  # fmt: skip
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in SKIP:
            continue
        url = rule.build({k: values[k] for k in rule.arguments})[1]
        response = client.get(url)
        if response.status_code == 200 and response.mimetype == "text/html":
            pages[url] = response.text
    extra = {
        "/tickets/?q=printer&status=open&tag=" + str(values["tag_id"]): 200,
        "/tickets/?status=nonsense": 200,  # a filter problem shown
        "/no/such/page": 404,
    }  # fmt: skip
    for url, status in extra.items():
        response = client.get(url)
        assert response.status_code == status, url
        pages[url] = response.text
    invalid = client.post("/tickets/new", data={"title": "", "description": ""})
    assert invalid.status_code == 422
    pages["/tickets/new (with errors)"] = invalid.text
    return pages
