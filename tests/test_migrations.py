import threading
import warnings

import flask_migrate
import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from supportdesk import MIGRATIONS_DIR
from supportdesk.audit.listeners import audited_bulk
from supportdesk.extensions import db


def test_there_is_a_single_head():
    from alembic.config import Config

    config = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _schema_differences(app):
    """Run ``flask db check``, exactly as a user would; return its complaint or ''."""
    with warnings.catch_warnings():
        # SQLite cannot reflect expression indexes (lower(email)); Alembic says so with a
        # warning and skips only those, which the round trip below still creates.
        warnings.filterwarnings("ignore", message=".*expression-based index.*")
        result = app.test_cli_runner().invoke(args=["db", "check"])
    if result.exit_code == 0:
        return []
    return [result.output, repr(result.exception)]


def test_upgrade_downgrade_upgrade_round_trip_matches_the_models(fresh_app):
    with fresh_app.app_context():
        flask_migrate.upgrade()
        assert _schema_differences(fresh_app) == []
        flask_migrate.downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        flask_migrate.upgrade()
        assert _schema_differences(fresh_app) == []
        assert {"uq_users_email_lower", "uq_tags_name_lower"} <= _index_names()


def _index_names():
    # Reflection skips expression indexes on SQLite, so ask the catalogues directly.
    if db.engine.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
    with db.engine.connect() as conn:
        return set(conn.scalars(sa.text(sql)))


def test_emails_and_tag_names_are_unique_ignoring_case(app):
    from tests.factories import TagFactory, UserFactory

    UserFactory(email="Ana@Example.com")
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        UserFactory(email="ana@example.COM")
    TagFactory(name="Billing")
    with pytest.raises(sa.exc.IntegrityError), db.session.begin_nested():
        TagFactory(name="BILLING")


def test_migrations_fill_search_and_first_replies_for_existing_tickets(fresh_app):
    # Tickets and replies written before the full-text migration are found after it: the
    # PostgreSQL backfill (batched DO block) and the SQLite FTS5 fill both ran.
    with fresh_app.app_context():
        flask_migrate.upgrade(revision="c3d4e5f6a7b8")
        with audited_bulk(), db.engine.begin() as conn:  # raw rows, as an old version wrote
            conn.execute(sa.text(
                "INSERT INTO users (id, email, full_name, password_hash, is_active, role,"
                " session_epoch, failed_logins, must_change_password, created_at, updated_at)"
                " VALUES (1, 'a@example.com', 'A', 'x', true, 'agent', 0, 0, false,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))  # fmt: skip
            conn.execute(sa.text(
                "INSERT INTO tickets (id, number, title, description, status, priority,"
                " creator_id, version, created_at, updated_at) VALUES"
                " (1, 1, 'Old printers jammed', 'Tray.', 'open', 2, 1, 1, CURRENT_TIMESTAMP,"
                " CURRENT_TIMESTAMP), (2, 2, 'Other', 'Other.', 'open', 2, 1, 1,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))  # fmt: skip
            conn.execute(sa.text(
                "INSERT INTO comments (ticket_id, author_id, body, is_internal, created_at,"
                " updated_at) VALUES (2, 1, 'The zeppelinfold is broken', false,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ))  # fmt: skip
        flask_migrate.upgrade()
        from supportdesk.tickets import search
        from supportdesk.tickets.models import Ticket

        fresh_app.extensions.pop("supportdesk.search", None)
        for text, expected in (("printer", {1}), ("zeppelinfold", {2})):
            found = db.session.scalars(sa.select(Ticket.id).where(search.parse(text).condition()))
            assert set(found) == expected, text
        db.session.remove()


@pytest.mark.postgresql_only
@pytest.mark.parametrize("released_after", [1.5, None])
def test_a_busy_table_makes_a_migration_wait_politely(fresh_app, monkeypatch, capsys,
                                                       released_after):  # fmt: skip
    # The macros revision adds foreign keys to tags, which needs a lock that a writing
    # transaction on tags holds. With a 200 ms lock_timeout the revision gives up, is
    # rolled back whole, and is tried again after a pause: it lands once the writer is
    # gone, and fails cleanly (schema unchanged) when the writer never goes.
    monkeypatch.setenv("SUPPORTDESK_MIGRATION_LOCK_TIMEOUT_MS", "200")
    monkeypatch.setenv("SUPPORTDESK_MIGRATION_RETRIES", "3" if released_after else "1")
    with fresh_app.app_context():
        flask_migrate.upgrade()
        flask_migrate.downgrade(revision="b8c9d0e1f2a3")
        blocker = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool).connect()
        blocker.exec_driver_sql("LOCK TABLE tags IN ROW EXCLUSIVE MODE")
        if released_after:
            threading.Timer(released_after, blocker.rollback).start()
        try:
            # alembic.ini's logging config (re-read by env.py) writes to stderr.
            if released_after:
                flask_migrate.upgrade()
            else:
                with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                    flask_migrate.upgrade()
        finally:
            blocker.rollback()
            blocker.close()
        retries = [m for m in capsys.readouterr().err.splitlines() if "A table is busy" in m]
        tables = set(sa.inspect(db.engine).get_table_names())
        db.session.remove()
    assert len(retries) >= 1
    if released_after:
        assert "macros" in tables
    else:
        assert len(retries) == 1  # one retry, then the error
        assert "macros" not in tables
        assert "ticket_followers" in tables  # the revisions before it stay applied
