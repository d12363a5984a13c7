"""The REST API's behaviour: tokens, problem details, the rulebook, versions, idempotency."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate

from supportdesk.api.models import IdempotentRequest
from supportdesk.audit.context import acting_as
from supportdesk.audit.models import AuditLog
from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.mail.models import MailMessage
from supportdesk.models import ApiToken, Comment, Ticket, TicketStatus
from supportdesk.tickets import search
from supportdesk.users import service as users_service
from supportdesk.users import tokens
from supportdesk.users.models import TokenScope
from tests.factories import CommentFactory, TagFactory, TicketFactory, UserFactory

PROBLEM = "application/problem+json"


def _problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


# --- the contract --------------------------------------------------------------------


def test_the_openapi_document_is_3_1_and_valid(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    validate(spec)  # raises on any violation of the OpenAPI 3.1 schema
    operations = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops
                  if m != "parameters"}  # fmt: skip
    assert ("PATCH", "/api/v1/tickets/{number}") in operations
    assert len(operations) == 14


def test_the_reference_page_lists_every_operation_without_a_login(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for path, operations in spec["paths"].items():
        for method in set(operations) - {"parameters"}:
            assert f"{method.upper()} {path}" in html
    assert "<script" not in html  # the CSP's script-src 'self' holds: nothing inline
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


# --- authentication ------------------------------------------------------------------


def test_no_token_is_401_problem_details_with_a_challenge(api_as):
    response = api_as(scope=None).get("/api/v1/tickets")
    _problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_web_session_cookie_is_not_accepted(login_as, agent, client):
    login_as(agent)
    assert client.get("/tickets/").status_code == 200  # logged in on the web
    _problem(client.get("/api/v1/tickets"), 401)
    _problem(client.open("/api/v1/tickets", method="POST", json={"title": "x"}, csrf=False), 401)


@pytest.mark.parametrize("secret", ["sd_" + "A" * 43, "Bearer", "sd_short", "x" * 500])
def test_an_unknown_or_malformed_token_is_401(api_as, secret):
    api = api_as(scope=None)
    _problem(api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}), 401)


def test_a_token_ends_when_revoked_expired_deactivated_or_sessions_end(app, make_token, api_as):
    user = UserFactory()
    revoked, expiring, kept = make_token(user), make_token(user, expires_days=1), make_token(user)
    client = api_as(scope=None)

    def status(secret):
        return client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code

    assert {status(revoked), status(expiring), status(kept)} == {200}
    token = db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id)).first()
    tokens.revoke(token.id, owner=user)
    db.session.scalars(sa.select(ApiToken).order_by(ApiToken.id.desc())).first()
    row = db.session.scalars(sa.select(ApiToken).where(ApiToken.expires_at.is_not(None))).one()
    row.expires_at = utcnow() - dt.timedelta(seconds=1)
    assert (status(revoked), status(expiring), status(kept)) == (401, 401, 200)
    users_service.end_sessions(db.session.get(type(user), user.id))  # "log out everywhere"
    assert status(kept) == 401
    fresh = make_token(user)
    assert status(fresh) == 200
    users_service.set_active(user, False, actor=None)
    assert status(fresh) == 401


def test_the_token_records_when_and_from_where_it_was_last_used(app, make_token, api_as):
    user = UserFactory()
    secret = make_token(user)
    api_as(scope=None).get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    token = db.session.scalars(sa.select(ApiToken).where(ApiToken.user_id == user.id)).one()
    db.session.refresh(token)
    assert token.last_used_at is not None
    assert token.last_used_ip == "127.0.0.1"
    assert token.token_hash != secret
    assert secret not in repr(token.__dict__)


def test_a_read_token_reads_but_never_writes(api_as):
    ticket = TicketFactory()
    api = api_as(scope=TokenScope.READ)
    assert api.get(f"/api/v1/tickets/{ticket.number}").status_code == 200
    _problem(
        api.post(
            "/api/v1/tickets", json={"title": "x", "requester": "a@example.org", "description": "y"}
        ),
        403,
    )
    _problem(api.delete(f"/api/v1/tickets/{ticket.number}"), 403)
    assert db.session.get(Ticket, ticket.id).deleted_at is None


def test_the_audit_trail_needs_an_admins_admin_token(app, api_as):
    admin = UserFactory(admin=True)
    _problem(api_as(admin, TokenScope.WRITE).get("/api/v1/audit"), 403)
    assert api_as(admin, TokenScope.ADMIN).get("/api/v1/audit").status_code == 200
    with pytest.raises(tokens.InvalidTokenRequestError, match="Only admins"):
        tokens.create_token(UserFactory(), name="x", scope=TokenScope.ADMIN)
    demoted = UserFactory(admin=True)
    client = api_as(demoted, TokenScope.ADMIN)
    users_service.set_role(demoted, type(demoted.role)("agent"), actor=None)
    _problem(client.get("/api/v1/audit"), 401)  # a role change ends sessions and tokens


# --- tickets -------------------------------------------------------------------------


def test_create_through_the_rulebook_audited_as_the_tokens_user_on_the_api_channel(app, api):
    tag = TagFactory()
    response = api.post("/api/v1/tickets", json={
        "title": "  VPN down  ", "description": "Since 9:00", "priority": "high",
        "requester": "Ana Lima <ana@example.org>", "cc": ["bo@example.org"], "tag_ids": [tag.id],
    })  # fmt: skip
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["title"] == "VPN down"  # the rulebook's clean_title
    assert body["requester"]["email"] == "ana@example.org"
    assert [c["email"] for c in body["ccs"]] == ["bo@example.org"]
    assert body["tags"] == [{"id": tag.id, "name": tag.name}]
    assert response.headers["Location"] == f"/api/v1/tickets/{body['number']}"
    assert response.headers["ETag"] == f'"{body["version"]}"'
    ticket = db.session.scalars(sa.select(Ticket).where(Ticket.number == body["number"])).one()
    created = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "ticket.created",
                                  AuditLog.entity_id == ticket.id)
    ).one()  # fmt: skip
    me = api.get("/api/v1/me").get_json()["user"]
    assert (created.actor_id, created.source) == (me["id"], "api")


def test_validation_errors_name_each_field_and_each_item(api):
    body = _problem(api.post("/api/v1/tickets", json={"title": "", "priority": "soon",
                                                      "assignee_id": "x"}), 422)  # fmt: skip
    assert {"title", "priority", "requester", "assignee_id"} <= set(body["errors"])
    body = _problem(api.post("/api/v1/tickets", json={"title": "a\x00b", "requester": "a@b.org"}),
                    422)  # fmt: skip
    assert "title" in body["errors"]
    body = _problem(
        api.post(
            "/api/v1/tickets", json={"title": "x", "requester": "not mail", "description": "y"}
        ),
        422,
    )
    assert "address" in body["detail"].lower() or "email" in body["detail"].lower()
    # An item of a list is named by its place: tag_ids.1; the detail says it in words.
    body = _problem(
        api.post(
            "/api/v1/tickets",
            json={"title": "x", "description": "y", "requester": "a@b.org", "tag_ids": [1, "two"]},
        ),
        422,
    )
    assert list(body["errors"]) == ["tag_ids.1"]
    assert body["detail"].startswith("Check these fields: tag_ids.1: ")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_wrong_media_type_method_size_and_path_are_problem_details(app, api):
    _problem(
        api.post(
            "/api/v1/tickets",
            data="title=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
    _problem(api.open("PUT", "/api/v1/tickets"), 405)
    _problem(api.get("/api/v1/tickets/99999999999"), 404)
    _problem(api.get("/api/v1/no-such-thing"), 404)
    big = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    _problem(api.post("/api/v1/tickets", data=big, headers={"Content-Type": "application/json"}),
             413)  # fmt: skip
    _problem(api.post("/api/v1/tickets", data="{", headers={"Content-Type": "application/json"}),
             400)  # fmt: skip


def test_patch_needs_if_match_and_refuses_a_stale_version(api):
    ticket = TicketFactory()
    url = f"/api/v1/tickets/{ticket.number}"
    etag = api.get(url).headers["ETag"]
    _problem(api.patch(url, json={"status": "resolved"}), 428)
    _problem(api.patch(url, json={"status": "resolved"}, headers={"If-Match": "3"}), 412)
    response = api.patch(url, json={"status": "resolved", "priority": "urgent"},
                         headers={"If-Match": etag})  # fmt: skip
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["status"], body["priority"]) == ("resolved", "urgent")
    assert body["resolved_at"] is not None  # the rulebook stamps it
    assert response.headers["ETag"] != etag
    _problem(api.patch(url, json={"title": "Too late"}, headers={"If-Match": etag}), 412)
    assert db.session.get(Ticket, ticket.id).title == ticket.title


def test_patch_changes_only_the_fields_given(api):
    ticket = TicketFactory(priority="low")
    tag = TagFactory()
    url = f"/api/v1/tickets/{ticket.number}"
    etag = api.get(url).headers["ETag"]
    body = api.patch(url, json={"tag_ids": [tag.id], "assignee_id": None},
                     headers={"If-Match": etag}).get_json()  # fmt: skip
    assert body["tags"] == [{"id": tag.id, "name": tag.name}]
    assert (body["priority"], body["title"]) == ("low", ticket.title)
    closed = TicketFactory(status=TicketStatus.CLOSED)
    url = f"/api/v1/tickets/{closed.number}"
    etag = api.get(url).headers["ETag"]
    _problem(api.patch(url, json={"title": "New"}, headers={"If-Match": etag}), 409)


def test_delete_moves_to_the_trash(api_as):
    ticket = TicketFactory()
    agent = api_as()
    assert agent.delete(f"/api/v1/tickets/{ticket.number}").status_code == 204
    _problem(agent.get(f"/api/v1/tickets/{ticket.number}"), 404)
    admin = api_as(UserFactory(admin=True), TokenScope.READ)
    assert admin.get(f"/api/v1/tickets/{ticket.number}").get_json()["deleted"] is True


# --- comments ------------------------------------------------------------------------


def test_a_public_reply_is_mailed_like_one_from_the_web_and_a_note_is_not(api):
    ticket = TicketFactory()
    url = f"/api/v1/tickets/{ticket.number}/comments"
    reply = api.post(url, json={"body": "We are on it."})
    assert reply.status_code == 201, reply.get_json()
    note = api.post(url, json={"body": "Check the router", "internal": True})
    assert note.get_json()["internal"] is True
    mailed = db.session.scalars(sa.select(MailMessage.comment_id)).all()
    assert mailed == [reply.get_json()["id"]]
    listed = api.get(url).get_json()
    assert [c["body"] for c in listed["items"]] == ["We are on it.", "Check the router"]
    _problem(api.post(url, json={"body": "   "}), 422)


def test_comments_page_with_a_cursor_and_a_link_header(api):
    ticket = TicketFactory()
    for _ in range(5):
        CommentFactory(ticket=ticket)
    url = f"/api/v1/tickets/{ticket.number}/comments?limit=2"
    seen, pages = [], 0
    while url:
        response = api.get(url)
        seen += [c["id"] for c in response.get_json()["items"]]
        pages += 1
        link = response.headers.get("Link")
        url = re.match(r"<([^>]+)>; rel=\"next\"", link).group(1) if link else None
    ids = db.session.scalars(sa.select(Comment.id).where(Comment.ticket_id == ticket.id)
                             .order_by(Comment.id)).all()  # fmt: skip
    assert (seen, pages) == (list(ids), 3)
    body = _problem(api.get(f"/api/v1/tickets/{ticket.number}/comments?cursor=forged"), 422)
    assert "cursor" in body["errors"]


# --- idempotency ---------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_returns_the_first_answer(api):
    payload = {"title": "Only once", "requester": "ana@example.org", "description": "It broke."}
    headers = {"Idempotency-Key": "order-42"}
    first = api.post("/api/v1/tickets", json=payload, headers=headers)
    again = api.post("/api/v1/tickets", json=payload, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    body = _problem(api.post("/api/v1/tickets", json={**payload, "title": "Other"},
                             headers=headers), 422)  # fmt: skip
    assert "Idempotency-Key" in body["detail"]
    other = api.post("/api/v1/tickets", json=payload, headers={"Idempotency-Key": "order-43"})
    assert other.status_code == 201
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
    # A day later the key is free again, and expired keys are cleared as new ones come.
    db.session.execute(
        sa.update(IdempotentRequest).values(created_at=utcnow() - dt.timedelta(hours=25))
    )
    fresh = api.post("/api/v1/tickets", json=payload, headers=headers)
    assert fresh.status_code == 201
    assert fresh.headers.get("Idempotent-Replayed") is None
    keys = db.session.scalars(sa.select(IdempotentRequest.key)).all()
    assert keys == ["order-42"]


def test_a_failed_request_does_not_use_up_its_key_and_keys_are_per_token(api_as):
    payload = {"title": "Retry me", "requester": "ana@example.org", "description": "It broke."}
    api = api_as()
    _problem(api.post("/api/v1/tickets", json={"title": "x"}, headers={"Idempotency-Key": "k"}),
             422)  # fmt: skip
    assert api.post("/api/v1/tickets", json=payload, headers={"Idempotency-Key": "k"}
                    ).status_code == 201  # fmt: skip
    other = api_as()
    assert other.post("/api/v1/tickets", json=payload, headers={"Idempotency-Key": "k"}
                      ).headers.get("Idempotent-Replayed") is None  # fmt: skip
    _problem(api.post("/api/v1/tickets", json=payload, headers={"Idempotency-Key": "é"}), 400)


# --- the shared list -----------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "", "status=open&sort=updated&dir=asc", "priority=high&priority=urgent", "q=printer",
    "assignee=none&sort=number", "sort=due&dir=desc",
])  # fmt: skip
def test_the_api_list_and_the_web_list_show_the_same_tickets_in_order(app, login_as, api_as,
                                                                      query):  # fmt: skip
    agent = UserFactory()
    for i in range(30):
        TicketFactory(priority=["low", "high", "urgent"][i % 3],
                      status=[TicketStatus.OPEN, TicketStatus.RESOLVED][i % 2],
                      title=f"Printer {i}" if i % 4 == 0 else f"Laptop {i}")  # fmt: skip
    web = login_as(agent).get(f"/tickets/?{query}").get_data(as_text=True)
    web_numbers = [int(n) for n in re.findall(r'<td class="num"><a href="[^"]*/(\d+)">', web)]
    api = api_as(agent, TokenScope.READ)
    api_numbers = [t["number"] for t in api.get(f"/api/v1/tickets?{query}").get_json()["items"]]
    assert web_numbers
    assert api_numbers == web_numbers


def test_the_list_pages_through_every_match_once(api, backend):
    made = sorted(TicketFactory().number for _ in range(7))
    seen, url = [], "/api/v1/tickets?sort=number&dir=asc&limit=3"
    while url:
        response = api.get(url)
        seen += [t["number"] for t in response.get_json()["items"]]
        link = response.headers.get("Link")
        url = re.match(r"<([^>]+)>", link).group(1) if link else None
    assert seen == made
    _problem(api.get("/api/v1/tickets?limit=101"), 422)
    _problem(api.get("/api/v1/tickets?sort=relevance"), 422)
    _problem(api.get("/api/v1/tickets?include_deleted=true"), 403)
    if backend == "postgresql":  # SQLite's FTS5 indexes every word
        body = _problem(api.get("/api/v1/tickets?q=the"), 422)
        assert body["errors"]["q"] == [search.STOP_WORDS_ONLY]


# --- rate limits ---------------------------------------------------------------------


def test_a_token_over_its_rate_limit_gets_429_with_retry_after(new_database_url, tmp_path):
    import flask_migrate

    from supportdesk.db import db as database
    from tests.conftest import make_app

    app = make_app(new_database_url(), tmp_path, RATELIMIT_ENABLED=True,
                   RATELIMIT_STORAGE_URL="memory://", API_RATE_LIMIT="3 per minute")  # fmt: skip
    with app.app_context(), acting_as("test"):
        flask_migrate.upgrade()
        user = UserFactory()
        secret = tokens.create_token(user, name="busy", scope=TokenScope.READ).secret
        database.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        answers = [client.get("/api/v1/me", headers=headers) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert answers[0].headers["RateLimit-Limit"] == "3"
        assert answers[0].headers["RateLimit-Remaining"] == "2"
        limited = answers[-1]
        assert limited.mimetype == PROBLEM
        assert int(limited.headers["Retry-After"]) > 0
        other = tokens.create_token(user, name="calm", scope=TokenScope.READ).secret
        database.session.commit()
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"}
                          ).status_code == 200  # fmt: skip
        database.engine.dispose()


def test_the_api_sets_and_clears_a_due_time(api):
    ticket = TicketFactory(priority="medium")
    url = f"/api/v1/tickets/{ticket.number}"
    etag = api.get(url).headers["ETag"]
    due = (
        (utcnow() + dt.timedelta(days=6))
        .replace(second=0, microsecond=0)
        .astimezone(dt.timezone(dt.timedelta(hours=1)))
    )
    body = api.patch(url, json={"due_at": due.isoformat()}, headers={"If-Match": etag})
    assert body.status_code == 200, body.get_json()
    data = body.get_json()
    assert data["due_is_manual"] is True
    assert dt.datetime.fromisoformat(data["due_at"]) == due
    past = api.patch(url, json={"due_at": "2001-01-01T00:00:00Z"},
                     headers={"If-Match": body.headers["ETag"]})  # fmt: skip
    assert past.status_code == 422
    assert "future" in past.get_json()["detail"]
    naive = api.patch(url, json={"due_at": "2031-01-01T00:00:00"},
                      headers={"If-Match": body.headers["ETag"]})  # fmt: skip
    assert naive.status_code == 422
    cleared = api.patch(url, json={"due_at": None}, headers={"If-Match": body.headers["ETag"]})
    assert cleared.get_json()["due_is_manual"] is False
