"""Session hardening and security headers (part of the security issue)."""

import time

from supportdesk.extensions import db
from supportdesk.models import User
from tests.conftest import PASSWORD, make_app


def test_every_page_sends_the_security_headers_and_no_store(agent_client, client):
    for response in (agent_client.get("/tickets/"), client.get("/login")):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp
        assert "'unsafe-inline'" not in csp.split("style-src-attr")[0]  # no inline script
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
        assert "Strict-Transport-Security" not in headers  # HTTPS is off in tests


def test_session_cookie_is_httponly_and_lax(client, agent):
    response = client.post("/login", data={"email": agent.email, "password": PASSWORD})
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_under_https_the_cookie_is_secure_host_prefixed_and_hsts_is_sent(tmp_path):
    app = make_app(f"sqlite:///{tmp_path}/x.db", tmp_path, HTTPS=True)
    assert app.config["SESSION_COOKIE_NAME"] == "__Host-session"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/login", base_url="https://localhost")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_cookie_captured_before_logout_is_refused_afterwards(app, agent):
    first = app.test_client()
    first.post("/login", data={"email": agent.email, "password": PASSWORD})
    with first.session_transaction() as stolen:
        captured = dict(stolen)
    assert first.get("/tickets/").status_code == 200
    first.post("/logout")
    replay = app.test_client()
    with replay.session_transaction() as session:
        session.update(captured)
    response = replay.get("/tickets/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_logging_out_ends_the_users_other_sessions_too(app, agent):
    laptop, phone = app.test_client(), app.test_client()
    for device in (laptop, phone):
        device.post("/login", data={"email": agent.email, "password": PASSWORD})
    laptop.post("/logout")
    assert phone.get("/tickets/").status_code == 302


def test_an_idle_session_expires(agent_client, app):
    with agent_client.session_transaction() as session:
        session["seen"] = time.time() - app.config["SESSION_IDLE_MINUTES"] * 60 - 5
    response = agent_client.get("/tickets/")
    assert response.status_code == 302
    assert "Your session expired" in agent_client.get("/login").text


def test_a_session_has_an_absolute_lifetime_even_when_active(agent_client, app):
    with agent_client.session_transaction() as session:
        session["login_at"] = time.time() - app.config["SESSION_MAX_HOURS"] * 3600 - 5
    assert agent_client.get("/tickets/").status_code == 302


def test_deactivating_a_user_ends_their_session(agent_client, agent):
    db.session.get(User, agent.id).is_active = False
    assert agent_client.get("/tickets/").status_code == 302
