"""On PostgreSQL the app runs as a role that may only INSERT and SELECT the audit log."""

import secrets

import flask_migrate
import pytest
import sqlalchemy as sa

from supportdesk.audit.cli import grants_sql
from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD, make_app

pytestmark = pytest.mark.postgresql_only


def test_the_app_works_as_a_role_that_cannot_rewrite_history(temporary_postgres, tmp_path):
    owner_url = temporary_postgres.create()
    role = f"sd_app_{secrets.token_hex(4)}"
    admin = temporary_postgres.admin
    try:
        owner = make_app(owner_url.render_as_string(hide_password=False), tmp_path / "o")
        with owner.app_context():
            flask_migrate.upgrade()
            with acting_as("test"), unit_of_work():
                create_user("role@example.com", full_name="Role User", password=PASSWORD)
            with db.engine.begin() as conn:
                conn.execute(sa.text(f"CREATE ROLE {role} LOGIN"))
                sql = grants_sql(role).replace(
                    "current_database_placeholder", f'"{owner_url.database}"'
                )
                for statement in filter(None, (s.strip() for s in sql.split(";"))):
                    conn.execute(sa.text(statement))
            db.engine.dispose()

        app_url = owner_url.set(username=role)
        app = make_app(app_url.render_as_string(hide_password=False), tmp_path / "a")
        client = app.test_client()
        client.application.config["WTF_CSRF_ENABLED"] = False
        assert client.post("/login", data={"email": "role@example.com",
                                           "password": PASSWORD}).status_code == 303  # fmt: skip
        created = client.post("/tickets/new", data={
            "requester": "role.customer@example.org",
            "title": "As the app role", "description": "d", "status": "open",
            "priority": "low", "assignee": ""})  # fmt: skip
        assert created.status_code == 303
        number = created.headers["Location"].rsplit("/", 1)[1]
        assert client.post(f"/tickets/{number}/comments", data={"body": "ok"}).status_code == 303
        assert client.post(f"/tickets/{number}/delete").status_code == 303

        with app.app_context():
            actions = db.session.scalars(sa.text("SELECT action FROM audit_logs ORDER BY id")).all()
            assert "ticket.created" in actions
            assert "ticket.deleted" in actions
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                for statement in ("UPDATE audit_logs SET action = 'x'", "DELETE FROM audit_logs",
                                  "TRUNCATE audit_logs"):  # fmt: skip
                    with pytest.raises(Exception, match="permission denied"):
                        cursor.execute(statement)
                    raw.rollback()
            finally:
                raw.close()
            db.engine.dispose()
    finally:
        temporary_postgres.drop(owner_url)
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP ROLE IF EXISTS {role}"))
