"""Shared fixtures: one migrated database per backend per run, rolled back per test.

Run with ``--backend=sqlite`` (default) or ``--backend=postgresql``; ``make test`` runs
both. PostgreSQL tests skip with a reason only when no server is reachable.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask, g, has_app_context
from flask.testing import FlaskClient, FlaskCliRunner
from itsdangerous import URLSafeTimedSerializer

from supportdesk import create_app
from supportdesk.audit.context import acting_as
from supportdesk.extensions import db
from supportdesk.webhooks import service as webhooks
from tests import factories

pytest_plugins = (
    "tests.smtp_sink",  # a real SMTP server on loopback: smtp_sink, tls_files
    "tests.mail.inbound_helpers",  # mail_in: the app as a desk that receives mail
    "tests.imap_server",  # a real IMAP server (Dovecot): imap_server, imap_mailbox
    "tests.pg_cluster",  # scratch PostgreSQL clusters: scratch, postgresql_only
)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "correct horse battery"


# `make test` runs the PostgreSQL pass as two processes side by side: these files (about
# half of its time, much of it spent waiting on subprocesses, locks and the server) and
# the rest. Every test runs in exactly one of the two (tests/test_phases.py checks).
HEAVY_FILES = (
    "tests/test_fuzz_forms.py",
    "tests/test_live_migration.py",
    "tests/test_resilience.py",
    "tests/mail/test_worker.py",
    "tests/test_backup.py",
    "tests/test_install.py",
)
# The scratch-cluster, nginx, PgBouncer and two-host tests (~50 s, PostgreSQL only) run in
# the PostgreSQL "rest" part: the heavy part was the longest of the three.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="database backend for this run",
    )
    parser.addoption(
        "--part",
        choices=("all", "heavy", "rest"),
        default="all",
        help="heavy: only HEAVY_FILES; rest: all but them (make test runs both at once)",
    )


def in_part(part: str, path: str) -> bool:
    """Whether the test file ``path`` (relative to the repository) belongs to ``part``."""
    if part == "all":
        return True
    return (path in HEAVY_FILES) == (part == "heavy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect what this pass does not run: PostgreSQL-only tests in the SQLite pass
    (they run in the PG pass), and the other part's files under ``--part``."""
    part = config.getoption("--part")
    sqlite = config.getoption("--backend") == "sqlite"
    root = Path(str(config.rootpath))
    keep, drop = [], []
    for item in items:
        path = Path(str(item.path)).relative_to(root).as_posix()
        wrong_backend = sqlite and item.get_closest_marker("postgresql_only")
        (drop if wrong_backend or not in_part(part, path) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_header(config: pytest.Config) -> str:
    return f"supportdesk backend: {config.getoption('--backend')}"


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--backend"))


def pg_admin_url() -> sa.URL:
    url = sa.make_url(os.environ.get("SUPPORTDESK_TEST_PG_URL", DEFAULT_PG_URL))
    return url.set(drivername="postgresql+psycopg2")


def pg_reachable() -> str | None:
    """Return why PostgreSQL is unusable, or None when it answers."""
    engine = sa.create_engine(pg_admin_url(), connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        return f"PostgreSQL not reachable at {pg_admin_url()!s}: {str(exc.orig).strip()[:200]}"
    finally:
        engine.dispose()
    return None


class TemporaryPostgres:
    """Create and drop throw-away PostgreSQL databases (never postgres/test/root)."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(pg_admin_url(), isolation_level="AUTOCOMMIT")

    def create(self, prefix: str = "supportdesk_test") -> sa.URL:
        name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        return pg_admin_url().set(database=name)

    def drop(self, url: sa.URL) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def temporary_postgres(backend: str) -> Iterator[TemporaryPostgres]:
    reason = pg_reachable()
    if reason:
        pytest.skip(reason)
    pg = TemporaryPostgres()
    yield pg
    pg.admin.dispose()


@pytest.fixture(scope="session")
def new_database_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """Return a factory of empty databases of this run's backend (dropped at the end)."""
    created: list[sa.URL] = []
    pg: TemporaryPostgres | None = None
    if backend == "postgresql":
        pg = request.getfixturevalue("temporary_postgres")

    def make() -> str:
        if pg is not None:
            url = pg.create()
            created.append(url)
            return url.render_as_string(hide_password=False)
        path = tmp_path_factory.mktemp("db") / "supportdesk.db"
        return f"sqlite:///{path}"

    yield make
    for url in created:
        assert pg is not None
        pg.drop(url)


def make_app(database_url: str, instance: Path, **overrides: Any) -> Flask:
    settings: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-" + secrets.token_hex(8),
        "ENV": "testing",
        "TESTING": True,
        "QUERY_STATS": True,
        "RATELIMIT_ENABLED": False,  # the suite logs in hundreds of times from one address
        # Each test starts with the hooks read (see the app fixture): no statement of its own.
        "WEBHOOK_REFRESH_S": 3600,
    }
    settings.update(overrides)
    app = create_app(settings)
    app.instance_path = str(instance)
    app.test_client_class = Client
    return app


@pytest.fixture(scope="session")
def migrated_app(new_database_url: Any, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The session's app on a database built by running every migration."""
    app = make_app(new_database_url(), tmp_path_factory.mktemp("instance"))
    with app.app_context():
        flask_migrate.upgrade()
    return app


@pytest.fixture
def desk(new_database_url: Any, tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """A migrated database of this test's own, committed to for real, and its URL: for
    tests that start the desk's own processes (`flask worker`, `flask mail fetch`)."""
    url = new_database_url()
    app = make_app(url, tmp_path / "instance", TESTING=False)
    with app.app_context():
        flask_migrate.upgrade()
    yield app, url
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def fresh_app(new_database_url: Any, tmp_path: Path) -> Iterator[Flask]:
    """An app on an empty database of its own (no migrations run): for migration tests."""
    app = make_app(new_database_url(), tmp_path)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def app(migrated_app: Flask) -> Iterator[Flask]:
    """Run the test inside an outer transaction that is rolled back afterwards.

    Flask-SQLAlchemy 3 ignores ``session.bind`` (its issue #1167), so the default engine
    is swapped for one connection; the session joins it with a SAVEPOINT, and code that
    commits only releases that savepoint.
    """
    engines = db._app_engines[migrated_app]
    engine = engines[None]
    with migrated_app.app_context():
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection  # type: ignore[assignment]
        try:
            # The hooks of the last test were rolled back: read them again now, outside
            # any request, so no request's statement count depends on the test order.
            webhooks.forget_hooks()
            webhooks.hooks_for("ticket.created")
            with acting_as("test"):  # what factories write is audited as done by "test"
                yield migrated_app
        finally:
            db.session.remove()
            engines[None] = engine
            outer.rollback()
            connection.close()


class Client(FlaskClient):
    """Test client that behaves like a fresh browser request every time.

    Before each request the test's pending objects are committed (to the savepoint, so
    the request can see them and a rollback in the request cannot undo them) and
    expired, so the request loads what it needs with real SQL, as in production. Form
    POSTs get a valid CSRF token unless ``csrf=False`` or one is given.
    """

    def open(self, *args: Any, csrf: bool = True, **kwargs: Any) -> Any:
        if has_app_context():
            db.session.commit()
            g.pop("_login_user", None)
        method = (kwargs.get("method") or "GET").upper()
        data = kwargs.get("data")
        if csrf and method == "POST" and (data is None or isinstance(data, dict)):
            data = dict(data or {})
            data.setdefault("csrf_token", self.csrf_token())
            kwargs["data"] = data
        return super().open(*args, **kwargs)

    def csrf_token(self) -> str:
        """Return a token Flask-WTF accepts for this client's session."""
        with self.session_transaction() as session:
            raw = session.setdefault("csrf_token", secrets.token_hex(20))
        secret = self.application.config["SECRET_KEY"]
        return URLSafeTimedSerializer(secret, salt="wtf-csrf-token").dumps(raw)


@pytest.fixture
def client(app: Flask) -> Client:
    return app.test_client()  # type: ignore[return-value]


class CliRunner(FlaskCliRunner):
    """CLI runner that commits the test's objects first (see :class:`Client`)."""

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        db.session.commit()
        return super().invoke(*args, **kwargs)


@pytest.fixture
def runner(app: Flask) -> CliRunner:
    return CliRunner(app)


@pytest.fixture
def login_as(client: Client) -> Any:
    """Log ``user`` in through the real login form; returns the client."""

    def login(user: Any) -> Client:
        response = client.post("/login", data={"email": user.email, "password": PASSWORD})
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return client

    return login


@pytest.fixture
def agent(app: Flask) -> Any:
    return factories.UserFactory(full_name="Ana Agent")


@pytest.fixture
def admin(app: Flask) -> Any:
    return factories.UserFactory(admin=True, full_name="Adam Admin")


@pytest.fixture
def agent_client(login_as: Any, agent: Any) -> Client:
    return login_as(agent)


@pytest.fixture
def admin_client(login_as: Any, admin: Any) -> Client:
    return login_as(admin)


class LiveServer:
    """The app served over real HTTP on 127.0.0.1, on a database of its own.

    Requests commit for real here (no rollback per test), so tests that use it create
    uniquely named data.
    """

    def __init__(self, app: Flask, url: str, users: dict[str, str]) -> None:
        self.app = app
        self.url = url
        self.users = users  # role -> email; every password is PASSWORD


@pytest.fixture(scope="session")
def live_server(new_database_url: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    import threading

    from werkzeug.serving import make_server

    from supportdesk.db import unit_of_work
    from supportdesk.users.models import UserRole
    from supportdesk.users.service import create_user

    app = make_app(new_database_url(), tmp_path_factory.mktemp("live"), TESTING=False)
    users = {"agent": "live-agent@example.com", "admin": "live-admin@example.com",
             "agent2": "live-agent2@example.com"}  # fmt: skip
    with app.app_context():
        flask_migrate.upgrade()
        with acting_as("test"), unit_of_work():
            create_user(users["agent"], full_name="Lina Live", password=PASSWORD)
            create_user(users["agent2"], full_name="Omar Other", password=PASSWORD)
            create_user(users["admin"], full_name="Ada Admin", password=PASSWORD,
                        role=UserRole.ADMIN)  # fmt: skip
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, f"http://127.0.0.1:{server.port}", users)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()
