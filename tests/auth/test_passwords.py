import re

import pytest
import sqlalchemy as sa
from werkzeug.security import check_password_hash

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.models import User
from supportdesk.users.service import InvalidUserError, check_password_policy
from tests.conftest import PASSWORD
from tests.factories import UserFactory

NEW = "a brand new long secret"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 12"),
        ("Password1234", "too common"),
        ("QWERTYUIOP123", "too common"),
        ("aaaaaaaaaaaaaaa", "too common or too simple"),
        ("abababababab", "too common or too simple"),
    ],
)
def test_weak_passwords_are_refused(password, message):
    with pytest.raises(InvalidUserError, match=message):
        check_password_policy(password)


def test_a_good_password_passes():
    check_password_policy("lamp violet harbour 42")


def test_staff_change_their_own_password_and_other_sessions_end(app, agent, login_as):
    phone = app.test_client()
    phone.post("/login", data={"email": agent.email, "password": PASSWORD})
    laptop = login_as(agent)
    wrong = laptop.post("/account/password",
                        data={"current": "nope nope nope", "new": NEW, "confirm": NEW})  # fmt: skip
    assert wrong.status_code == 422
    assert "current password is wrong" in wrong.text
    differ = {"current": PASSWORD, "new": NEW, "confirm": NEW + "x"}
    mismatch = laptop.post("/account/password", data=differ)
    assert "The two new passwords differ." in mismatch.text
    done = laptop.post("/account/password", data={"current": PASSWORD, "new": NEW, "confirm": NEW})
    assert done.status_code == 303
    assert laptop.get("/tickets/").status_code == 200  # this session goes on
    assert phone.get("/tickets/").status_code == 302  # the other one ended
    db.session.expire_all()
    assert check_password_hash(db.session.get(User, agent.id).password_hash, NEW)
    assert db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.action == "user.password_changed")
    ).all()


def test_admin_reset_forces_a_change_at_next_login(app, admin_client):
    bob = UserFactory()
    response = admin_client.post(f"/users/{bob.id}/reset-password")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    temporary = re.search(r'class="temporary-password">([^<]+)<', response.text).group(1)
    # Never in the session cookie (signed, not encrypted), never shown again (#18, 14).
    with admin_client.session_transaction() as session:
        assert temporary not in repr(dict(session))
    assert temporary not in admin_client.get("/users/").text
    bob_client = app.test_client()
    assert bob_client.post("/login", data={"email": bob.email, "password": PASSWORD}) \
        .status_code == 401  # fmt: skip
    assert bob_client.post("/login", data={"email": bob.email, "password": temporary}) \
        .status_code == 303  # fmt: skip
    forced = bob_client.get("/tickets/")
    assert forced.status_code == 302
    assert forced.headers["Location"] == "/account/password"
    assert bob_client.post("/account/password",
                           data={"current": temporary, "new": NEW, "confirm": NEW}) \
        .status_code == 303  # fmt: skip
    assert bob_client.get("/tickets/").status_code == 200


def test_agents_cannot_reset_passwords(agent_client, admin):
    assert agent_client.post(f"/users/{admin.id}/reset-password").status_code == 403
