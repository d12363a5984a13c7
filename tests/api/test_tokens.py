"""Personal access tokens: made on the security page or by `flask tokens`, shown once."""

from __future__ import annotations

import re

import sqlalchemy as sa

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.models import ApiToken
from tests.factories import UserFactory


def _secret(html: str) -> str:
    return re.search(r'<code class="token-secret">(sd_[A-Za-z0-9_-]{43})</code>', html).group(1)


def test_made_on_the_page_shown_once_and_revoked_there(login_as, agent, client):
    login_as(agent)
    made = client.post("/account/tokens", data={"name": "monitoring", "scope": "write",
                                                 "expires_days": "30"})  # fmt: skip
    assert made.status_code == 200
    secret = _secret(made.get_data(as_text=True))
    assert made.headers["Cache-Control"] == "no-store"
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/me", headers=headers).get_json()["scope"] == "write"
    listed = client.get("/account/tokens").get_data(as_text=True)
    assert "monitoring" in listed
    assert secret not in listed  # never shown again
    assert secret[:8] in listed  # its first characters tell it apart
    token = db.session.scalars(sa.select(ApiToken)).one()
    assert token.token_hash != secret
    created = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "api_token.created")
                                 ).one()  # fmt: skip
    assert secret not in str(created.changes)
    revoked = client.post(f"/account/tokens/{token.id}/revoke")
    assert revoked.status_code == 303
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert "revoked" in client.get("/account/tokens").get_data(as_text=True)


def test_an_agent_cannot_make_an_admin_token_nor_revoke_anothers(login_as, agent, client,
                                                                 make_token):  # fmt: skip
    login_as(agent)
    refused = client.post("/account/tokens", data={"name": "x", "scope": "admin"})
    assert refused.status_code == 422
    assert "Only admins" in refused.get_data(as_text=True)
    make_token(UserFactory())
    theirs = db.session.scalars(sa.select(ApiToken)).one()
    assert client.post(f"/account/tokens/{theirs.id}/revoke").status_code == 404
    assert db.session.get(ApiToken, theirs.id).revoked_at is None
    nameless = client.post("/account/tokens", data={"name": "", "scope": "read"})
    assert nameless.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 1


def test_the_cli_prints_the_token_alone_and_revokes_it(runner, client):
    admin = UserFactory(admin=True)
    result = runner.invoke(args=["tokens", "create", admin.email, "--name", "bi",
                                 "--scope", "admin", "--expires-days", "7"])  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert re.fullmatch(r"sd_[A-Za-z0-9_-]{43}", secret)
    assert client.get("/api/v1/audit", headers={"Authorization": f"Bearer {secret}"},
                      ).status_code == 200  # fmt: skip
    token = db.session.scalars(sa.select(ApiToken)).one()
    listed = runner.invoke(args=["tokens", "list", admin.email])
    assert "active" in listed.output
    assert secret not in listed.output
    assert runner.invoke(args=["tokens", "revoke", str(token.id)]).exit_code == 0
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}
                      ).status_code == 401  # fmt: skip


def test_the_cli_refuses_clearly(runner):
    agent = UserFactory()
    for args, message in [
        (["tokens", "create", "nobody@example.org", "--name", "x"], "no staff member"),
        (["tokens", "create", agent.email, "--name", "x", "--scope", "admin"], "Only admins"),
        (["tokens", "create", agent.email, "--name", "x", "--expires-days", "0"], "0"),
        (["tokens", "revoke", "424242"], "no such token"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code != 0, args
        assert message in result.output, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0
