"""Every route, as anonymous, agent and admin, against an explicit expected matrix.

A new route fails this test until it is added to the matrix with its intended access.
"""

import pytest
import sqlalchemy as sa

from supportdesk.extensions import db
from supportdesk.mail.models import InboundMessage, InboundOutcome
from supportdesk.models import Attachment, MailDelivery
from supportdesk.tickets import service
from tests.conftest import PASSWORD
from tests.factories import MacroFactory, TagFactory, TicketFactory, UserFactory

PUBLIC, STAFF, ADMIN = "public", "staff", "admin"
# The API: a bearer token only; a browser's session cookie gets 401 (tests/api covers the
# token scopes operation by operation).
TOKEN = "token"
# (endpoint, method) -> who may use it
MATRIX = {
    ("auth.login", "GET"): PUBLIC,
    ("auth.login", "POST"): PUBLIC,
    ("auth.security_txt", "GET"): PUBLIC,
    ("auth.login_code", "GET"): PUBLIC,  # only half-way through a login (else to /login)
    ("auth.login_code", "POST"): PUBLIC,
    ("auth.forgot_password", "GET"): PUBLIC,  # 404 without SUPPORTDESK_BASE_URL
    ("auth.forgot_password", "POST"): PUBLIC,
    ("auth.reset_password", "GET"): PUBLIC,  # with a mailed token; 404 without one
    ("auth.reset_password", "POST"): PUBLIC,
    ("account.security", "GET"): STAFF,
    ("account.enable_mfa", "POST"): STAFF,
    ("account.renew_codes", "POST"): STAFF,
    ("account.disable_mfa", "POST"): STAFF,
    ("users.reset_mfa", "POST"): ADMIN,
    ("auth.logout", "POST"): STAFF,
    ("health.health", "GET"): PUBLIC,
    ("health.database", "GET"): PUBLIC,
    ("metrics.metrics", "GET"): PUBLIC,  # its own bearer token; 404 without one configured
    ("tickets.index", "GET"): STAFF,
    ("tickets.export_csv", "GET"): STAFF,
    ("tickets.take_next", "POST"): STAFF,
    ("tickets.merge", "POST"): STAFF,
    ("tickets.follow", "POST"): STAFF,
    ("reports.index", "GET"): STAFF,
    ("tickets.create", "GET"): STAFF,
    ("tickets.create", "POST"): STAFF,
    ("tickets.detail", "GET"): STAFF,
    ("tickets.edit", "GET"): STAFF,
    ("tickets.edit", "POST"): STAFF,
    ("tickets.quick_update", "POST"): STAFF,
    ("tickets.comment", "POST"): STAFF,
    ("tickets.bulk", "POST"): STAFF,
    ("tickets.delete", "POST"): STAFF,
    ("tickets.restore", "POST"): STAFF,  # admins; an agent only to undo their own deletion
    ("tickets.trash", "GET"): ADMIN,
    ("tags.index", "GET"): STAFF,
    ("macros.index", "GET"): STAFF,
    ("macros.create", "GET"): ADMIN,
    ("macros.create", "POST"): ADMIN,
    ("macros.edit", "GET"): ADMIN,
    ("macros.edit", "POST"): ADMIN,
    ("macros.delete", "POST"): ADMIN,
    ("tags.create", "GET"): ADMIN,
    ("tags.create", "POST"): ADMIN,
    ("tags.edit", "GET"): ADMIN,
    ("tags.edit", "POST"): ADMIN,
    ("tags.delete", "POST"): ADMIN,
    ("attachments.download", "GET"): STAFF,
    ("audit.index", "GET"): ADMIN,
    ("audit.export", "GET"): ADMIN,
    ("audit.seal", "POST"): ADMIN,
    ("users.index", "GET"): ADMIN,
    ("users.reset_password", "POST"): ADMIN,
    ("users.deactivate", "POST"): ADMIN,
    ("users.reactivate", "POST"): ADMIN,
    ("users.change_role", "POST"): ADMIN,
    ("users.unlock", "POST"): ADMIN,
    ("auth.change_password", "GET"): STAFF,
    ("auth.change_password", "POST"): STAFF,
    ("customers.index", "GET"): STAFF,
    ("customers.lookup", "GET"): STAFF,
    ("customers.detail", "GET"): STAFF,
    ("customers.detail", "POST"): STAFF,
    ("customers.merge", "POST"): ADMIN,
    ("health.worker_health", "GET"): PUBLIC,
    ("mail.outbox", "GET"): ADMIN,
    ("mail.retry", "POST"): STAFF,
    ("mail.cancel", "POST"): ADMIN,
    ("mail.parked", "GET"): ADMIN,
    ("mail.parked_to_ticket", "POST"): ADMIN,
    ("mail.parked_delete", "POST"): ADMIN,
    ("mail.original", "GET"): STAFF,  # parked originals: admins (404 for agents)
    ("account.tokens_page", "GET"): STAFF,
    ("profile.profile", "GET"): STAFF,
    ("profile.profile", "POST"): STAFF,
    ("account.create_token", "POST"): STAFF,
    ("account.revoke_token", "POST"): STAFF,  # one's own tokens only (404 for others')
    ("webhooks.index", "GET"): ADMIN,
    ("webhooks.create", "POST"): ADMIN,
    ("webhooks.detail", "GET"): ADMIN,
    ("webhooks.update", "POST"): ADMIN,
    ("webhooks.renew_secret", "POST"): ADMIN,
    ("webhooks.ping", "POST"): ADMIN,
    ("webhooks.delete", "POST"): ADMIN,
    ("api-docs.openapi_json", "GET"): PUBLIC,  # the contract is public
    ("api_docs.docs", "GET"): PUBLIC,
    ("api.list_tickets", "GET"): TOKEN,
    ("api.create_ticket", "POST"): TOKEN,
    ("api.get_ticket", "GET"): TOKEN,
    ("api.update_ticket", "PATCH"): TOKEN,
    ("api.delete_ticket", "DELETE"): TOKEN,
    ("api.list_comments", "GET"): TOKEN,
    ("api.add_comment", "POST"): TOKEN,
    ("api.list_tags", "GET"): TOKEN,
    ("api.list_users", "GET"): TOKEN,
    ("api.me", "GET"): TOKEN,
    ("api.list_customers", "GET"): TOKEN,
    ("api.get_customer", "GET"): TOKEN,
    ("api.list_audit", "GET"): TOKEN,
    ("api.get_report", "GET"): TOKEN,
}


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_the_matrix_covers_every_route(app):
    assert {(rule.endpoint, method) for rule, method in _routes(app)} == set(MATRIX)


@pytest.mark.parametrize("role", ["anonymous", "agent", "admin"])
def test_every_route_answers_as_the_matrix_says(app, role):
    ticket = TicketFactory()
    tag = TagFactory()
    db.session.add(Attachment(ticket_id=ticket.id, uploader=ticket.creator, filename="a.txt",
                              content_type="text/plain", size=1, sha256="0" * 64))  # fmt: skip
    db.session.flush()
    attachment = db.session.scalars(sa.select(Attachment)).one()
    macro = MacroFactory()
    service.add_comment(ticket, author=ticket.creator, body="Mailed", is_internal=False)
    delivery = db.session.scalars(sa.select(MailDelivery)).one()
    received = InboundMessage(source="test", dedupe_key="matrix", sender="a@example.org",
                              size=3, raw=b"x: y", outcome=InboundOutcome.TICKET,
                              ticket_id=ticket.id)  # fmt: skip
    db.session.add(received)
    db.session.flush()
    values = {"number": ticket.number, "tag_id": tag.id, "attachment_id": attachment.id,
              "user_id": ticket.creator_id, "macro_id": macro.id,
              "customer_id": ticket.requester_id, "delivery_id": delivery.id,
              "message_id": received.id, "token": "1.not-a-token",
              "token_id": 999_999, "hook_id": 999_999}  # fmt: skip
    client = app.test_client()
    if role != "anonymous":
        user = UserFactory(admin=role == "admin")
        assert client.post("/login", data={"email": user.email, "password": PASSWORD}) \
            .status_code == 303  # fmt: skip
    for rule, method in _routes(app):
        if (rule.endpoint, method) == ("auth.logout", "POST"):
            continue  # would end the session the other routes need; covered elsewhere
        url = rule.build(values)[1]
        response = client.open(url, method=method)
        access = MATRIX[(rule.endpoint, method)]
        redirected_to_login = response.status_code == 302 and response.headers[
            "Location"
        ].startswith("/login")
        where = f"{role} {method} {url} -> {response.status_code}"
        if access == TOKEN:
            assert response.status_code == 401, where
            assert response.mimetype == "application/problem+json", where
        elif access == PUBLIC:
            assert not redirected_to_login, where
            assert response.status_code != 403, where
        elif role == "anonymous":
            assert redirected_to_login, where
        elif access == ADMIN and role == "agent":
            assert response.status_code == 403, where
        else:
            assert response.status_code not in (401, 403, 500), where
            assert not redirected_to_login, where
