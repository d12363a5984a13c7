"""Account lifecycle: deactivate, reactivate, role, unlock — in the staff page and the CLI."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.db import unit_of_work, utcnow
from supportdesk.extensions import db
from supportdesk.users import service
from supportdesk.users.models import User, UserRole
from supportdesk.users.service import InvalidUserError
from tests.conftest import PASSWORD
from tests.factories import UserFactory


def _actions(user: User) -> list[str]:
    return list(db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.entity_type == "users",
                                         AuditLog.entity_id == user.id).order_by(AuditLog.id)
    ))  # fmt: skip


def test_deactivating_ends_every_session_and_is_audited(app, admin_client, login_as):
    bob = UserFactory(full_name="Bob Agent")
    bob_client = app.test_client()
    assert bob_client.post("/login", data={"email": bob.email, "password": PASSWORD}
                           ).status_code == 303  # fmt: skip
    assert bob_client.get("/tickets/").status_code == 200
    response = admin_client.post(f"/users/{bob.id}/deactivate")
    assert response.status_code == 303
    assert "Bob Agent: deactivated" in admin_client.get("/users/").text
    assert bob_client.get("/tickets/").status_code == 302  # logged out at once
    assert bob_client.post("/login", data={"email": bob.email, "password": PASSWORD}
                           ).status_code == 401  # fmt: skip
    admin_client.post(f"/users/{bob.id}/reactivate")
    assert bob_client.post("/login", data={"email": bob.email, "password": PASSWORD}
                           ).status_code == 303  # fmt: skip
    assert "user.updated" in _actions(bob)


def test_the_last_admin_and_ones_own_account_are_kept(app, admin, admin_client):
    page = admin_client.post(f"/users/{admin.id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate your own account." in page.text
    page = admin_client.post(f"/users/{admin.id}/role", data={"role": "agent"},
                             follow_redirects=True)  # fmt: skip
    assert "This is the last active admin" in page.text
    other = UserFactory(admin=True)
    assert admin_client.post(f"/users/{other.id}/role", data={"role": "agent"}).status_code == 303
    db.session.refresh(other)
    assert other.role == UserRole.AGENT
    assert admin_client.post(f"/users/{other.id}/role", data={"role": "owner"}).status_code == 400


def test_a_locked_account_is_shown_and_unlocked_by_an_admin(app, admin_client):
    bob = UserFactory()
    for _ in range(5):
        with unit_of_work():
            service.authenticate(bob.email, "wrong")
    db.session.refresh(bob)
    assert bob.locked_at(utcnow())
    page = admin_client.get("/users/").text
    assert "Locked</strong> until" in page
    assert admin_client.post(f"/users/{bob.id}/unlock").status_code == 303
    db.session.refresh(bob)
    assert (bob.failed_logins, bob.locked_until) == (0, None)
    assert "user.unlocked" in _actions(bob)


def test_the_cli_lists_deactivates_unlocks_and_sets_roles(app, runner):
    UserFactory(admin=True)  # so that Bob is not the last admin once he is one
    bob = UserFactory(email="bob@example.com", full_name="Bob")
    bob.failed_logins, bob.locked_until = 6, utcnow() + dt.timedelta(minutes=5)
    listed = runner.invoke(args=["users", "list"])
    assert listed.exit_code == 0
    assert "bob@example.com\tBob\tagent\tactive, locked until" in listed.output
    assert runner.invoke(args=["users", "unlock", "bob@example.com"]).output == (
        "bob@example.com: unlocked.\n")  # fmt: skip
    assert runner.invoke(args=["users", "set-role", "bob@example.com", "admin"]).exit_code == 0
    assert runner.invoke(args=["users", "deactivate", "bob@example.com"]).exit_code == 0
    db.session.expire_all()
    bob = db.session.get(User, bob.id)
    assert (bob.role, bob.is_active, bob.failed_logins) == (UserRole.ADMIN, False, 0)
    missing = runner.invoke(args=["users", "deactivate", "nobody@example.com"])
    assert missing.exit_code == 1
    assert "No account has the address nobody@example.com." in missing.output
    assert runner.invoke(args=["users", "set-role", "bob@example.com", "owner"]).exit_code == 2


def test_system_accounts_stay_as_they_are(app):
    system = UserFactory(email="mail@supportdesk.invalid", is_active=False)
    with pytest.raises(InvalidUserError, match="the desk's own account"):
        service.set_active(system, True, actor=None)
    with pytest.raises(InvalidUserError, match="the desk's own account"):
        service.set_role(system, UserRole.ADMIN, actor=None)
