"""Two-step login (#18): enrolment, codes good once, recovery codes, remembered browsers,
the requirement by role, and an admin's reset for a lost phone."""

from __future__ import annotations

import datetime as dt
import re
import time

import pyotp
import pytest
import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.users import mfa
from supportdesk.users.models import RecoveryCode, User
from tests.conftest import PASSWORD
from tests.factories import UserFactory

SECRET_FIELD = re.compile(r'<code class="mfa-secret">([A-Z2-7 ]+)</code>')
SETUP_FIELD = re.compile(r'name="setup" type="hidden" value="([^"]+)"')


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrol(user: User) -> tuple[str, list[str]]:
    """Turn MFA on for ``user`` through the service; return the secret and codes."""
    secret = pyotp.random_base32()
    codes = mfa.enable(user, secret, _code(secret))
    user.mfa_last_step = None  # the tests log in with the current code afterwards
    db.session.commit()
    return secret, codes


def _events(user: User, action: str) -> list[AuditLog]:
    return list(db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == action, AuditLog.entity_id == str(user.id)
    ).order_by(AuditLog.id)))  # fmt: skip


def _password_step(client, user, **kwargs):
    return client.post("/login", data={"email": user.email, "password": PASSWORD}, **kwargs)


def test_enrolment_turns_mfa_on_with_a_code_from_the_app(client, agent, login_as):
    login_as(agent)
    page = client.get("/account/security")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert 'src="data:image/svg+xml' in page.text  # the QR code, drawn here, no service
    secret = SECRET_FIELD.search(page.text).group(1).replace(" ", "")
    setup = SETUP_FIELD.search(page.text).group(1)
    assert secret not in (client.get_cookie("session").value if client.get_cookie("session")
                          else "")  # fmt: skip

    wrong = client.post("/account/security/enable", data={"setup": setup, "code": "000000"
                        if _code(secret) != "000000" else "111111"})  # fmt: skip
    assert wrong.status_code == 422
    assert "does not match" in wrong.text
    # The page sent back keeps the secret the app has already scanned.
    assert SECRET_FIELD.search(wrong.text).group(1).replace(" ", "") == secret

    done = client.post("/account/security/enable", data={"setup": setup, "code": _code(secret)})
    assert done.status_code == 200
    assert done.headers["Cache-Control"] == "no-store"
    shown = re.findall(r"<li><code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code></li>", done.text)
    assert len(shown) == 10
    assert len(set(shown)) == 10
    db.session.refresh(agent)
    assert agent.has_mfa
    assert agent.mfa_secret == secret
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)
                                .where(RecoveryCode.user_id == agent.id)).all()  # fmt: skip
    assert len(stored) == 10
    assert not {c.replace("-", "") for c in shown} & set(stored)
    assert len(_events(agent, "user.mfa_enabled")) == 1
    # The trail says the secret changed, never what it is.
    trail = " ".join(str(row.changes) for row in _events(agent, "user.updated"))
    assert "'mfa': 'changed'" in trail
    assert secret not in trail


def test_a_setup_token_of_another_user_or_forged_is_refused(client, agent, login_as):
    other = UserFactory()
    secret, token = pyotp.random_base32(), None
    with client.application.test_request_context():
        secret, token = mfa.new_setup(other)
    login_as(agent)
    for setup in (token, token[:-2] + "xx"):
        response = client.post("/account/security/enable",
                               data={"setup": setup, "code": _code(secret)})  # fmt: skip
        assert response.status_code == 422
        assert "too old" in response.text
    db.session.refresh(agent)
    assert not agent.has_mfa


def test_login_asks_for_a_code_and_each_code_is_good_once(client, agent):
    secret, _ = _enrol(agent)
    first = _password_step(client, agent)
    assert first.status_code == 303
    assert first.headers["Location"] == "/login/code"
    assert client.get("/tickets/").status_code == 302  # not logged in yet
    assert client.post("/login/code", data={"code": _code(secret)}).status_code == 303
    assert client.get("/tickets/").status_code == 200
    client.post("/logout")

    _password_step(client, agent)
    replay = client.post("/login/code", data={"code": _code(secret)})
    assert replay.status_code == 401
    assert "used already" in replay.text
    assert client.post("/login/code", data={"code": _code(secret, 1)}).status_code == 303
    assert [e.changes for e in _events(agent, "user.login")] == [{"mfa": "totp"}] * 2
    assert _events(agent, "user.login_failed")[0].changes == {"step": "code"}


def test_wrong_codes_lock_the_account_like_wrong_passwords(client, agent):
    secret, _ = _enrol(agent)
    _password_step(client, agent)
    right = _code(secret)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert client.post("/login/code", data={"code": wrong}).status_code == 401
    db.session.refresh(agent)
    assert agent.failed_logins == 5
    assert agent.locked_at(dt.datetime.now(dt.UTC))
    # Locked: the right code is refused too, and a right password starts no new batch.
    assert client.post("/login/code", data={"code": right}).status_code == 401
    assert _password_step(client, agent).status_code == 401


def test_the_password_does_not_reset_the_count_of_wrong_codes(client, agent):
    secret, _ = _enrol(agent)
    _password_step(client, agent)
    bad = f"{(int(_code(secret)) + 1) % 1_000_000:06d}"
    for _ in range(3):
        client.post("/login/code", data={"code": bad})
    _password_step(client, agent)
    db.session.refresh(agent)
    assert agent.failed_logins == 3


def test_a_recovery_code_logs_in_once(client, agent):
    _, codes = _enrol(agent)
    _password_step(client, agent)
    used = mfa.format_recovery_code(codes[3]).upper()  # typed in capitals, with dashes
    response = client.post("/login/code", data={"code": used}, follow_redirects=True)
    assert response.status_code == 200
    assert "9 left" in response.text
    client.post("/logout")
    _password_step(client, agent)
    assert client.post("/login/code", data={"code": codes[3]}).status_code == 401
    assert client.post("/login/code", data={"code": codes[4]}).status_code == 303
    assert [e.changes for e in _events(agent, "user.login")] == [{"mfa": "recovery"}] * 2


def test_a_remembered_browser_skips_the_code_until_mfa_is_set_up_anew(client, agent):
    secret, _ = _enrol(agent)
    _password_step(client, agent)
    client.post("/login/code", data={"code": _code(secret), "remember": "y"})
    client.post("/logout")
    skipped = _password_step(client, agent)
    assert skipped.status_code == 303
    assert skipped.headers["Location"] == "/tickets/"
    assert _events(agent, "user.login")[-1].changes == {"mfa": "trusted browser"}
    assert "does not ask for a code until" in client.get("/account/security").text
    client.post("/logout")

    # A new enrolment (after a reset: a new phone) trusts no browser of the old one.
    mfa.disable(agent)
    agent_secret = pyotp.random_base32()
    mfa.enable(agent, agent_secret, _code(agent_secret))
    agent.mfa_enabled_at += dt.timedelta(seconds=5)
    db.session.commit()
    assert _password_step(client, agent).headers["Location"] == "/login/code"


def test_another_users_remembered_browser_does_not_skip_the_code(client, agent):
    secret, _ = _enrol(agent)
    other = UserFactory()
    other_secret, _ = _enrol(other)
    _password_step(client, other)
    client.post("/login/code", data={"code": _code(other_secret), "remember": "y"})
    client.post("/logout")
    assert _password_step(client, agent).headers["Location"] == "/login/code"


def test_the_code_step_times_out_and_ends_when_the_account_is_reset(client, agent):
    secret, _ = _enrol(agent)
    _password_step(client, agent)
    with client.session_transaction() as session:
        session["mfa"] = {**session["mfa"], "t": session["mfa"]["t"] - 301}
    late = client.post("/login/code", data={"code": _code(secret)})
    assert late.status_code == 303
    assert late.headers["Location"] == "/login"
    assert client.get("/tickets/").status_code == 302

    _password_step(client, agent)
    agent.session_epoch += 1  # an admin's reset or "log out everywhere" meanwhile
    db.session.commit()
    assert client.post("/login/code", data={"code": _code(secret)}).headers["Location"] == "/login"


def test_the_code_page_without_a_password_step_goes_back_to_login(client):
    response = client.get("/login/code")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"


@pytest.mark.parametrize("mode", ["admins", "all"])
def test_a_required_second_factor_is_set_up_before_anything_else(app, client, login_as,
                                                                 monkeypatch, mode):  # fmt: skip
    monkeypatch.setitem(app.config, "MFA_REQUIRED", mode)
    admin = UserFactory(admin=True)
    login_as(admin)
    gated = client.get("/tickets/")
    assert gated.status_code == 302
    assert gated.headers["Location"] == "/account/security"
    assert client.get("/account/security").status_code == 200
    assert client.post("/account/password").status_code in (200, 422)  # still reachable
    page = client.get("/account/security").text
    secret = SECRET_FIELD.search(page).group(1).replace(" ", "")
    setup = SETUP_FIELD.search(page).group(1)
    client.post("/account/security/enable", data={"setup": setup, "code": _code(secret)})
    assert client.get("/tickets/").status_code == 200
    # Required: it cannot be turned off by its owner.
    refused = client.post("/account/security/disable", data={"password": PASSWORD})
    assert refused.status_code == 422
    assert "requires two-step login" in refused.text
    db.session.refresh(admin)
    assert admin.has_mfa

    agent = UserFactory()
    client.post("/logout")
    login_as(agent)
    expected = 302 if mode == "all" else 200
    assert client.get("/tickets/").status_code == expected


def test_turning_mfa_off_needs_the_password_and_drops_the_codes(client, agent, login_as):
    _enrol(agent)
    agent.mfa_last_step = None
    db.session.commit()
    # A remembered browser makes the login a single step for this test.
    login = _password_step(client, agent)
    assert login.headers["Location"] == "/login/code"
    secret = agent.mfa_secret
    client.post("/login/code", data={"code": _code(secret)})
    wrong = client.post("/account/security/disable", data={"password": "not-the-password"})
    assert wrong.status_code == 422
    assert "That password is wrong." in wrong.text
    db.session.refresh(agent)
    assert agent.has_mfa
    assert agent.failed_logins == 1
    done = client.post("/account/security/disable", data={"password": PASSWORD})
    assert done.status_code == 303
    db.session.refresh(agent)
    assert not agent.has_mfa
    assert agent.mfa_enabled_at is None
    assert not db.session.scalars(sa.select(RecoveryCode).where(RecoveryCode.user_id == agent.id)
                                  ).all()  # fmt: skip
    assert len(_events(agent, "user.mfa_disabled")) == 1


def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(client, agent):
    secret, old = _enrol(agent)
    _password_step(client, agent)
    client.post("/login/code", data={"code": _code(secret)})
    refused = client.post("/account/security/recovery-codes", data={"code": "123456"
                          if _code(secret, 1) != "123456" else "654321"})  # fmt: skip
    assert refused.status_code == 422
    renewed = client.post("/account/security/recovery-codes", data={"code": _code(secret, 1)})
    assert renewed.status_code == 200
    assert "the old ones no longer work" in renewed.text
    client.post("/logout")
    _password_step(client, agent)
    assert client.post("/login/code", data={"code": old[0]}).status_code == 401
    assert len(_events(agent, "user.recovery_codes_renewed")) == 1


def test_an_admin_resets_a_lost_second_factor(app, client, agent):
    admin = UserFactory(admin=True)
    admin_client = app.test_client()
    admin_client.post("/login", data={"email": admin.email, "password": PASSWORD})
    secret, _ = _enrol(agent)
    _password_step(client, agent)
    client.post("/login/code", data={"code": _code(secret)})
    assert client.get("/tickets/").status_code == 200
    epoch = agent.session_epoch
    staff = admin_client.get("/users/")
    assert "Reset two-step login" in staff.text
    response = admin_client.post(f"/users/{agent.id}/reset-mfa", follow_redirects=True)
    assert "two-step login reset" in response.text
    db.session.refresh(agent)
    assert not agent.has_mfa
    assert agent.session_epoch == epoch + 1
    assert client.get("/tickets/").status_code == 302  # their sessions ended
    assert len(_events(agent, "user.mfa_reset")) == 1
    assert _password_step(client, agent).headers["Location"] == "/tickets/"


def test_agents_cannot_reset_anyones_mfa(agent_client, agent):
    other = UserFactory()
    _enrol(other)
    assert agent_client.post(f"/users/{other.id}/reset-mfa").status_code == 403
    db.session.refresh(other)
    assert other.has_mfa


def test_flask_users_reset_mfa(app, agent, runner):
    _enrol(agent)
    listed = runner.invoke(args=["users", "list"])
    assert f"{agent.email}\t" in listed.output
    assert "mfa on" in listed.output
    result = runner.invoke(args=["users", "reset-mfa", agent.email])
    assert result.exit_code == 0, result.output
    assert "two-step login reset" in result.output
    db.session.refresh(agent)
    assert not agent.has_mfa
    events = _events(agent, "user.mfa_reset")
    assert len(events) == 1
    assert events[0].actor_label == "cli:users-reset-mfa"
    again = runner.invoke(args=["users", "reset-mfa", agent.email])
    assert again.exit_code == 0
    assert "nothing to do" in again.output
    missing = runner.invoke(args=["users", "reset-mfa", "nobody@example.org"])
    assert missing.exit_code != 0
    assert "No account" in missing.output
