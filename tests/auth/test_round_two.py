"""Security round two (#18): regression tests for the findings fixed so far."""

from __future__ import annotations

import csv
import io
import random
import string
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from supportdesk import rendering
from supportdesk.attachments.models import Attachment
from supportdesk.audit.listeners import audited_bulk
from supportdesk.audit.models import AuditLog
from supportdesk.csvexport import csv_cell
from supportdesk.extensions import db
from supportdesk.metrics import REQUESTS
from supportdesk.models import Ticket
from tests.conftest import PASSWORD
from tests.factories import CustomerFactory, TagFactory, TicketFactory, UserFactory


@pytest.mark.parametrize("target", ["/tickets/\r\nSet-Cookie: x=1", "/tickets/\n", "/a\x00b",
                                    "/a\x7fb", "/a\u2028b", "/a\tb"])  # fmt: skip
def test_control_characters_in_next_are_refused_not_a_500(client, agent, target):
    response = client.post(f"/login?next={quote(target)}",
                           data={"email": agent.email, "password": PASSWORD})  # fmt: skip
    if "\x00" in target:  # refused before the login (the app's guard against NUL bytes)
        assert response.status_code == 400
        return
    assert response.status_code == 303
    assert response.headers["Location"] == "/tickets/"


def test_a_csrf_token_planted_before_login_is_refused_after_it(client, agent):
    client.get("/login")
    planted = client.csrf_token()  # what an attacker fixed in the victim's session
    client.post("/login", data={"email": agent.email, "password": PASSWORD})
    response = client.post("/tickets/new", csrf=False, data={
        "csrf_token": planted, "title": "x", "description": "y", "requester": "a@example.org",
    })  # fmt: skip
    assert response.status_code == 400
    assert client.get("/tickets/").status_code == 200  # still logged in


def test_validating_patterns_match_the_whole_value_not_up_to_a_trailing_newline(admin_client):
    # "$" matches before a final newline: "#aabbcc\n" passed the check, then broke (500).
    response = admin_client.post("/tags/new", data={"name": "Outage", "colour": "#aabbcc\n"})
    assert response.status_code == 422  # the form again, with the error
    assert "Use the form #1a2b3c." in response.text
    assert admin_client.get("/tickets/", query_string={"assignee": "me\n"}).status_code == 200
    assert admin_client.get("/reports/", query_string={"assignee": "1\n"}).status_code in (200, 400)


@pytest.mark.parametrize(("path", "args"), [
    ("/tickets/", {"created_to": "9999-12-31"}),
    ("/tickets/", {"created_from": "0001-01-01"}),
    ("/tickets/export.csv", {"created_to": "9999-12-31"}),
    ("/reports/", {"date_from": "9999-12-31"}),
    ("/reports/", {"date_to": "0001-01-01"}),
    ("/audit/", {"until": "9999-12-31"}),
    ("/audit/export.csv", {"until": "9999-12-31"}),
])  # fmt: skip
def test_dates_far_outside_the_range_are_named_and_ignored(admin_client, path, args):
    response = admin_client.get(path, query_string=args)
    if path == "/tickets/export.csv":  # an export is exactly what was asked for, or refused
        assert response.status_code == 400
        return
    assert response.status_code == 200
    if not path.endswith(".csv"):
        assert "Give a date between 1970-01-01 and 9998-12-31." in response.text


def test_made_up_methods_and_paths_add_no_metric_series(client):
    def series() -> int:
        return sum(len(metric.samples) for metric in REQUESTS.collect())

    client.open("/login", method="PRBAAAA")  # the "other" and "unmatched" series exist now
    client.open("/no-such-page-at-all", method="GET")
    before = series()
    rng = random.Random(18)  # noqa: S311 - test data, not secrets
    for _ in range(300):
        method = "".join(rng.choices(string.ascii_uppercase, k=rng.randint(3, 12)))
        path = "/" + "".join(rng.choices(string.ascii_lowercase + "/", k=rng.randint(1, 30)))
        client.open(path if rng.random() < 0.5 else "/login", method=method)
    # A handful of (unmatched/other × status) series at most, never one per request.
    assert series() - before < 10
    methods = {s.labels["method"] for metric in REQUESTS.collect() for s in metric.samples}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}


@pytest.mark.parametrize("text", ["=1+1", "＝1+1", "＋1", "－1", "＠SUM(A1)", "\ufeff=1+1",
                                  "\u200b=1+1", "\u200d\u2060@x", "\t=1", "\r=1"])  # fmt: skip
def test_formula_like_cells_are_neutralised_in_every_shape(text):
    assert csv_cell(text).startswith("'")
    assert csv_cell(f"ok; {text}", joined=True) == f"ok; '{text}"
    assert csv_cell("plain; words") == "plain; words"


def test_the_ticket_export_neutralises_each_tag(admin_client):
    TicketFactory(tags=[TagFactory(name="=HYPERLINK(x)"), TagFactory(name="billing")])
    body = admin_client.get("/tickets/export.csv").get_data(as_text=True)
    row = list(csv.reader(io.StringIO(body)))[1]
    assert row[8] in ("'=HYPERLINK(x); billing", "billing; '=HYPERLINK(x)")


@pytest.mark.parametrize(("name", "saved_as"), [
    ("invoice.html", "invoice.html.txt"), ("run.bat", "run.bat.txt"), ("x.js", "x.js.txt"),
    ("app.hta", "app.hta.txt"), ("logo.svg", "logo.svg.txt"), ("notes", "notes.txt"),
    ("server.log", "server.log"), ("data.CSV", "data.CSV"),
])  # fmt: skip
def test_a_download_is_named_for_what_its_content_is(agent_client, tmp_path, monkeypatch,
                                                      name, saved_as):  # fmt: skip
    monkeypatch.setitem(agent_client.application.config, "ATTACHMENT_DIR", str(tmp_path))
    ticket = TicketFactory()
    response = agent_client.post(f"/tickets/{ticket.number}/comments", data={
        "body": "see file", "attachments": [(io.BytesIO(b"just words\n"), name)]},
        content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 303
    attachment = db.session.query(Attachment).one()
    assert attachment.filename == name  # shown as uploaded
    download = agent_client.get(f"/attachments/{attachment.id}")
    download.close()
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f"filename={saved_as}" in disposition or f'filename="{saved_as}"' in disposition


def test_guessing_the_current_password_counts_like_failed_logins(agent_client, agent):
    new = {"new": "a brand new passphrase", "confirm": "a brand new passphrase"}
    for _ in range(5):
        wrong = agent_client.post("/account/password", data={"current": "not it", **new})
        assert wrong.status_code == 422
        assert "The current password is wrong." in wrong.text
    # Locked now: even the right current password is not tried until the lock ends.
    right = agent_client.post("/account/password", data={"current": PASSWORD, **new})
    assert right.status_code == 422
    assert "Too many wrong passwords" in right.text
    db.session.refresh(agent)
    assert agent.failed_logins == 5
    assert agent.locked_until is not None
    failures = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "user.password_change_failed"))  # fmt: skip
    assert failures == 5


def test_security_txt_names_a_contact_and_an_expiry(app, monkeypatch):
    client = app.test_client()  # anonymous
    body = client.get("/.well-known/security.txt")
    assert body.status_code == 200
    assert body.mimetype == "text/plain"
    assert "Contact: mailto:" in body.text
    assert "Expires: 20" in body.text
    monkeypatch.setitem(app.config, "SECURITY_CONTACT", "https://acme.example/security")
    assert "Contact: https://acme.example/security" in client.get("/.well-known/security.txt").text


def test_strangers_failures_never_lock_the_owner_out_of_a_known_device(app, agent):
    owner = app.test_client()
    assert owner.post("/login", data={"email": agent.email, "password": PASSWORD}
                      ).status_code == 303  # fmt: skip
    owner.post("/logout")  # the device cookie stays: this browser signed in before
    attacker = app.test_client()
    for _ in range(12):
        assert attacker.post("/login", data={"email": agent.email, "password": "guess"}
                             ).status_code == 401  # fmt: skip
    db.session.refresh(agent)
    assert agent.locked_until is not None  # locked for unknown devices…
    assert attacker.post("/login", data={"email": agent.email, "password": PASSWORD}
                         ).status_code == 401  # …even with the right password  # fmt: skip
    assert owner.post("/login", data={"email": agent.email, "password": PASSWORD}
                      ).status_code == 303  # the owner, on their known device  # fmt: skip


def test_a_forged_or_foreign_device_cookie_does_not_unlock(app, agent):
    other = UserFactory()
    theirs = app.test_client()
    assert theirs.post("/login", data={"email": other.email, "password": PASSWORD}
                       ).status_code == 303  # a device cookie, but for another account  # fmt: skip
    theirs.post("/logout")
    for _ in range(6):
        theirs.post("/login", data={"email": agent.email, "password": "guess"})
    assert theirs.post("/login", data={"email": agent.email, "password": PASSWORD}
                       ).status_code == 401  # fmt: skip
    forged = app.test_client()
    forged.set_cookie("device", "eyJ1Ijo1fQ.forged.signature")
    assert forged.post("/login", data={"email": agent.email, "password": PASSWORD}
                       ).status_code == 401  # fmt: skip


def _count_renders(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = rendering._render
    monkeypatch.setattr(rendering, "_render", lambda text: calls.append(text) or real(text))
    rendering._render_cached.cache_clear()
    monkeypatch.setattr(rendering, "_render_cached", lambda text: rendering._render(text))
    return calls


def test_viewing_a_ticket_with_hostile_markdown_renders_nothing(agent_client, agent, monkeypatch):
    from supportdesk.tickets.service import add_comment, create_ticket

    ticket = create_ticket(title="worst", description="[" * 5_000, creator=agent,
                           requester=CustomerFactory())  # fmt: skip
    for _ in range(5):
        add_comment(ticket, author=agent, body="*_" * 2_500, is_internal=False)
    calls = _count_renders(monkeypatch)
    page = agent_client.get(f"/tickets/{ticket.number}")
    assert page.status_code == 200
    assert page.text.count('class="comment-body markdown"') == 5  # shown, as stored HTML
    assert calls == []  # rendered when written, never at view time


def test_texts_of_an_older_renderer_are_refreshed_by_the_cli(agent_client, agent, runner,
                                                             monkeypatch):  # fmt: skip
    ticket = TicketFactory(description="**old**")
    db.session.flush()
    with audited_bulk():  # as a row written before the column existed
        db.session.execute(sa.update(Ticket).where(Ticket.id == ticket.id)
                           .values(description_html=None, html_version=None))  # fmt: skip
    calls = _count_renders(monkeypatch)
    agent_client.get(f"/tickets/{ticket.number}")
    assert calls == ["**old**"]  # rendered at view time until refreshed
    result = runner.invoke(args=["render", "refresh", "--quiet"])
    assert result.exit_code == 0, result.output
    calls.clear()
    assert "<strong>old</strong>" in agent_client.get(f"/tickets/{ticket.number}").text
    assert calls == []


def test_a_text_over_the_limit_is_a_form_error_that_keeps_it(agent_client, monkeypatch):
    monkeypatch.setitem(agent_client.application.config, "MAX_TEXT_CHARS", 1_000)
    ticket = TicketFactory()
    long = "x" * 1_001
    response = agent_client.post(f"/tickets/{ticket.number}/comments", data={"body": long})
    assert response.status_code in (400, 409, 422)
    assert "at most 1,000 characters" in response.text
    assert long in response.text  # nothing typed is lost
