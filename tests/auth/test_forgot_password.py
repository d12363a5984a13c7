"""Forgot password (#18): a single-use, 30-minute link by email; one answer for every
address; the lock and the second factor still apply after a reset."""

from __future__ import annotations

import datetime as dt
import email
import re
from email import policy
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from supportdesk import worker
from supportdesk.audit.models import AuditLog
from supportdesk.auth import resets
from supportdesk.extensions import db
from supportdesk.users import mfa
from supportdesk.users.models import PasswordReset
from tests.conftest import PASSWORD
from tests.factories import UserFactory

NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"https://desk\.example\.org/password/reset/(\S+)")


@pytest.fixture
def desk(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "BASE_URL", "https://desk.example.org")
    monkeypatch.setitem(app.config, "OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setitem(app.config, "SMTP_URL", None)
    return tmp_path / "outbox"


def _mailed(outbox: Path) -> list[email.message.EmailMessage]:
    """Run the worker's reset queue once; return what it wrote to the outbox."""
    spec = worker._queues["password_reset"]
    for reset_id in db.session.scalars(sa.select(PasswordReset.id).where(
            PasswordReset.state.in_(worker.DUE_STATES))).all():  # fmt: skip
        state = spec.deliver(reset_id)
        db.session.get(PasswordReset, reset_id).state = state
    db.session.commit()
    return [email.message_from_bytes(path.read_bytes(), policy=policy.default)
            for path in sorted(outbox.glob("*.eml"))]  # fmt: skip


def _token(message) -> str:
    return LINK.search(message.get_content()).group(1)


def test_the_answer_is_the_same_whether_the_address_exists(client, agent, desk):
    known = client.post("/password/forgot", data={"email": agent.email.upper()})
    unknown = client.post("/password/forgot", data={"email": "nobody@example.org"})
    inactive = UserFactory(is_active=False)
    disabled = client.post("/password/forgot", data={"email": inactive.email})
    assert known.status_code == unknown.status_code == disabled.status_code == 200
    assert known.text == unknown.text == disabled.text
    mailed = _mailed(desk)
    assert [m["To"].addresses[0].addr_spec for m in mailed] == [agent.email]
    message = mailed[0]
    assert message["Auto-Submitted"] == "auto-generated"
    token = _token(message)
    # Only a hash of the token is stored; the nonce alone cannot rebuild it.
    row = db.session.scalars(sa.select(PasswordReset)).one()
    assert token not in (row.token_hash, row.nonce)
    assert row.requested_from == "127.0.0.1"


def test_a_link_sets_a_new_password_once_and_ends_every_session(app, client, agent, desk):
    other = app.test_client()
    other.post("/login", data={"email": agent.email, "password": PASSWORD})
    assert other.get("/tickets/").status_code == 200
    client.post("/password/forgot", data={"email": agent.email})
    token = _token(_mailed(desk)[0])
    assert client.get(f"/password/reset/{token}").status_code == 200

    weak = client.post(f"/password/reset/{token}", data={"new": "short", "confirm": "short"})
    assert weak.status_code == 422
    assert "at least 12 characters" in weak.text  # the link still works after a refusal
    done = client.post(f"/password/reset/{token}",
                       data={"new": NEW_PASSWORD, "confirm": NEW_PASSWORD})  # fmt: skip
    assert done.status_code == 303
    assert done.headers["Location"] == "/login"
    assert other.get("/tickets/").status_code == 302  # the old session ended
    assert client.get(f"/password/reset/{token}").status_code == 404  # used up
    assert client.post("/login", data={"email": agent.email, "password": PASSWORD}
                       ).status_code == 401  # fmt: skip
    assert client.post("/login", data={"email": agent.email, "password": NEW_PASSWORD}
                       ).status_code == 303  # fmt: skip
    actions = db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.entity_id == str(agent.id), AuditLog.action.like("user.password_reset%"))
    ).all()  # fmt: skip
    assert sorted(actions) == ["user.password_reset_completed", "user.password_reset_requested"]


def test_a_link_expires_after_30_minutes_and_a_newer_one_ends_the_older(client, agent, desk):
    client.post("/password/forgot", data={"email": agent.email})
    client.post("/password/forgot", data={"email": agent.email})
    first, second = (_token(m) for m in _mailed(desk))
    done = client.post(f"/password/reset/{second}",
                       data={"new": NEW_PASSWORD, "confirm": NEW_PASSWORD})  # fmt: skip
    assert done.status_code == 303
    assert client.get(f"/password/reset/{first}").status_code == 404

    client.post("/password/forgot", data={"email": agent.email})
    row = db.session.scalars(sa.select(PasswordReset).order_by(PasswordReset.id.desc())).first()
    token = resets._token(row.nonce)
    row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/password/reset/{token}").status_code == 404
    # And the worker does not send a dead link.
    with pytest.raises(worker.PermanentFailure):
        resets.deliver(row.id)


@pytest.mark.parametrize("token", ["AAAA", "nonsense", "x" * 500, "A" * 43])
def test_a_made_up_or_damaged_link_is_refused(client, agent, desk, token):
    client.post("/password/forgot", data={"email": agent.email})
    response = client.get(f"/password/reset/{token}")
    assert response.status_code == 404
    assert "This link does not work" in response.text


def test_at_most_three_links_an_hour_go_to_one_account(client, agent, desk):
    for _ in range(5):
        assert client.post("/password/forgot", data={"email": agent.email}).status_code == 200
    assert len(_mailed(desk)) == 3


def test_the_lock_and_the_second_factor_still_apply_after_a_reset(client, agent, desk):
    secret = pyotp.random_base32()
    mfa.enable(agent, secret, pyotp.TOTP(secret).now())
    agent.mfa_last_step = None
    agent.failed_logins, agent.locked_until = 7, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    db.session.commit()
    client.post("/password/forgot", data={"email": agent.email})
    token = _token(_mailed(desk)[0])
    client.post(f"/password/reset/{token}", data={"new": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    db.session.refresh(agent)
    assert agent.has_mfa
    assert agent.failed_logins == 7
    assert client.post("/login", data={"email": agent.email, "password": NEW_PASSWORD}
                       ).status_code == 401  # still locked  # fmt: skip
    agent.locked_until = None
    db.session.commit()
    step = client.post("/login", data={"email": agent.email, "password": NEW_PASSWORD})
    assert step.headers["Location"] == "/login/code"


def test_without_a_base_url_the_desk_offers_no_reset_by_email(client, agent, app):
    assert app.config["BASE_URL"] is None
    assert "Forgot your password?" not in client.get("/login").text
    response = client.post("/password/forgot", data={"email": agent.email})
    assert response.status_code == 404
    assert "Ask an admin" in response.text
    assert db.session.scalars(sa.select(PasswordReset)).all() == []


def test_the_reset_mail_goes_through_a_real_smtp_server(app, agent, desk, monkeypatch,
                                                       smtp_sink):  # fmt: skip
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_sink.url)
    with app.test_request_context():
        resets.request_reset(agent.email, remote_addr="192.0.2.7")
    db.session.commit()
    reset_id = db.session.scalars(sa.select(PasswordReset.id)).one()
    assert resets.deliver(reset_id) == worker.DeliveryState.SENT
    (received,) = smtp_sink.received
    assert received.recipients == [agent.email]
    message = received.message
    assert "192.0.2.7" in message.get_content()
    assert LINK.search(message.get_content())
