"""When PostgreSQL misbehaves, the desk keeps answering (real gunicorn, loopback, bounded).

Each test starts gunicorn (gunicorn.conf.py) on a database of its own and provokes one
failure: connections killed, the server unreachable, the pool exhausted, a runaway
statement, a lock held by someone else, a fork after the app connected, a SIGTERM.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import flask_migrate
import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.models import AuditLog, Comment, Ticket
from supportdesk.tickets.service import create_ticket
from supportdesk.users.models import UserRole
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD, make_app
from tests.factories import CustomerFactory
from tests.gunicorn_server import ROOT, free_port, get, gunicorn
from tests.http import Browserless, hidden
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgresql_only
AGENT = "resilient-agent@example.com"


@pytest.fixture(scope="module")
def site(new_database_url, tmp_path_factory):
    """A migrated PostgreSQL database with an agent, an admin and 20 tickets."""
    url = new_database_url()
    app = make_app(url, tmp_path_factory.mktemp("resilience"), TESTING=False)
    with app.app_context():
        flask_migrate.upgrade()
        with acting_as("test"), unit_of_work():
            agent = create_user(AGENT, full_name="Rita Resilient", password=PASSWORD)
            create_user("resilient-admin@example.com", full_name="Adam Admin",
                        password=PASSWORD, role=UserRole.ADMIN)  # fmt: skip
            for i in range(20):
                create_ticket(
                    requester=CustomerFactory(),
                    title=f"Resilience {i}",
                    description="x",
                    creator=agent,
                )
    yield app, url
    with app.app_context():
        db.engine.dispose()


def _env(url, **settings):
    env = {"SUPPORTDESK_DATABASE_URL": url, "SUPPORTDESK_SECRET_KEY": "r" * 40,
           "SUPPORTDESK_LOGIN_RATE_LIMIT": "1000 per minute",
           "SUPPORTDESK_LOGIN_ACCOUNT_RATE_LIMIT": "1000 per minute"}  # fmt: skip
    env.update({f"SUPPORTDESK_{k}": str(v) for k, v in settings.items()})
    return env


def _admin_engine(url):
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _number(app, index=0):
    with app.app_context():
        return db.session.scalars(sa.select(Ticket.number).order_by(Ticket.id)).all()[index]


def _agent(base):
    client = Browserless(base)
    client.login(AGENT, PASSWORD)
    return client


class RowLock:
    """Hold ``FOR UPDATE`` on one ticket from a connection of the test's own."""

    def __init__(self, url, number):
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.number = number

    def __enter__(self):
        self.connection = self.engine.connect()
        self.connection.execute(
            sa.text("SELECT id FROM tickets WHERE number = :n FOR UPDATE"), {"n": self.number}
        )
        return self

    def __exit__(self, *exc):
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


def _comment(client, number, body):
    page = client.request(f"/tickets/{number}")
    if page.status != 200:  # the kill can land on the form's page: that answer counts
        return page
    data = {"csrf_token": hidden(page.text), "form_token": hidden(page.text, "form_token"),
            "body": body}  # fmt: skip
    return client.request(f"/tickets/{number}/comments", data)


def test_killed_connections_recover_within_two_seconds(site, tmp_path):
    app, url = site
    number = _number(app)
    results: list[tuple[float, int, str, float]] = []
    stop = threading.Event()

    def load(worker, client):
        i = 0
        while not stop.is_set():
            i += 1
            started = time.monotonic()
            if i % 3:
                status = client.request("/tickets/").status
                kind = "read"
            else:
                status = _comment(client, number, f"load {worker}-{i}").status
                kind = "write"
            results.append((started, status, kind, time.monotonic()))

    with gunicorn(_env(url), workers=2, log=tmp_path / "g.log") as server:
        base = server.url
        # Logged in before the load starts: a login that a slow thread start pushed past
        # the kill met a killed connection (503) and failed the test, not the desk.
        clients = [_agent(base) for _ in range(4)]
        threads = [threading.Thread(target=load, args=(n, c)) for n, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        killed_at = time.monotonic()
        with _admin_engine(url).connect() as admin:
            killed = admin.execute(sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'supportdesk'"
            )).scalar()  # fmt: skip
        time.sleep(3.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert killed >= 2  # each worker had a pooled connection
    statuses = {status for _, status, _, _ in results}
    log = (tmp_path / "g.log").read_text()
    assert statuses <= {200, 303, 503}, (statuses, log[-4000:])  # the log says why
    failures = [(t, end) for t, status, _, end in results if status == 503]
    late = [t - killed_at for t, _ in failures if t - killed_at > 2]
    assert not late, f"503s more than 2 s after the kill: {late}"
    after = [s for t, s, _, _ in results if t - killed_at > 2]
    assert len(after) > 20
    assert set(after) <= {200, 303}
    recovery = max((end - killed_at for _, end in failures), default=0.0)
    print(f"\nkilled {killed} connections; {len(failures)} requests got 503; last failure "
          f"{recovery * 1000:.0f} ms after the kill; {len(results)} requests")  # fmt: skip
    # Nothing half-written: every comment has its audit row and no audit row lacks its comment.
    with app.app_context():
        comments = db.session.scalar(sa.select(sa.func.count()).select_from(Comment))
        audited = db.session.scalar(
            sa.select(sa.func.count()).where(AuditLog.action == "comment.created")
        )
        landed = sum(1 for _, s, kind, _ in results if kind == "write" and s == 303)
    assert comments == audited
    assert comments >= landed


def test_unreachable_at_start_then_recovers_by_itself(site, tmp_path):
    app, url = site
    port = free_port()
    real = sa.make_url(url)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432), port)  # down: refused
    proxied = real.set(host="127.0.0.1", port=port)
    env = _env(proxied.render_as_string(hide_password=False))
    with gunicorn(env, workers=1, log=tmp_path / "g.log") as server:
        base = server.url
        assert get(base + "/health")[0] == 200
        status, body = get(base + "/health/database")
        assert status == 503
        assert "unreachable" in body
        client = Browserless(base)
        page = client.request("/login")
        response = client.request("/login", {"email": AGENT, "password": PASSWORD,
                                             "csrf_token": hidden(page.text)})  # fmt: skip
        assert response.status == 503
        # 5 s from the error page; on the rate-limited login form Flask-Limiter raises it
        # to the end of its window (it keeps the later of the two).
        assert 5 <= int(response.headers["Retry-After"]) <= 60
        assert "The desk is busy" in response.text
        assert re.search(r"[0-9a-f]{32}", response.text)  # the request id to quote
        proxy.up()
        try:
            deadline = time.monotonic() + 10
            while get(base + "/health/database")[0] != 200:
                assert time.monotonic() < deadline, "no recovery within 10 s"
                time.sleep(0.2)
            client.login(AGENT, PASSWORD)
            assert client.request("/tickets/").status == 200
        finally:
            proxy.down()


def test_an_exhausted_pool_answers_503_after_the_pool_timeout(site, tmp_path):
    app, url = site
    number = _number(app, 1)
    env = _env(url, THREADS=4, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=1,
               DB_LOCK_TIMEOUT_MS=8000)  # fmt: skip
    with gunicorn(env, workers=1, log=tmp_path / "g.log") as server:
        base = server.url
        slow, other = _agent(base), _agent(base)
        page = slow.request(f"/tickets/{number}/edit")
        form = {"csrf_token": hidden(page.text), "version": hidden(page.text, "version"),
                "original": hidden(page.text, "original"), "title": "Held up",
                "description": "x", "status": "open", "priority": "high"}  # fmt: skip
        with ThreadPoolExecutor(1) as pool, RowLock(url, number):
            held = pool.submit(slow.request, f"/tickets/{number}/edit", form)
            time.sleep(0.5)  # the edit now waits on the row lock, holding the only connection
            started = time.monotonic()
            response = other.request("/tickets/")
            waited = time.monotonic() - started
            assert response.status == 503
            assert response.headers["Retry-After"] == "5"
            assert "The desk is busy" in response.text
            assert 0.9 <= waited < 3, waited
        assert held.result(timeout=15).status == 303  # the lock went; the edit landed
        assert other.request("/tickets/").status == 200  # the pool recovered


def test_a_runaway_statement_is_cancelled_and_the_worker_keeps_serving(site, tmp_path):
    app, url = site
    number = _number(app, 2)
    env = _env(url, DB_STATEMENT_TIMEOUT_MS=400, DB_LOCK_TIMEOUT_MS=0)  # 0: no lock limit
    with gunicorn(env, workers=1, log=tmp_path / "g.log") as server:
        base = server.url
        client = _agent(base)
        with RowLock(url, number):
            started = time.monotonic()
            response = _comment(client, number, "never saved")
            elapsed = time.monotonic() - started
        assert response.status == 503
        assert "That took too long" in response.text
        assert re.search(r"[0-9a-f]{32}", response.text)
        assert elapsed < 3
        assert client.request("/tickets/").status == 200  # same (only) worker, still serving
    with app.app_context():
        assert db.session.scalar(
            sa.select(sa.func.count()).where(Comment.body == "never saved")
        ) == 0  # fmt: skip


def test_every_row_locking_path_gives_up_after_lock_timeout(site, tmp_path):
    app, url = site
    number, other = _number(app, 3), _number(app, 4)
    with app.app_context():
        ticket_id = db.session.scalar(sa.select(Ticket.id).where(Ticket.number == number))
    env = _env(url, DB_LOCK_TIMEOUT_MS=300)
    with gunicorn(env, workers=1, log=tmp_path / "g.log") as server:
        base = server.url
        client = _agent(base)
        edit = client.request(f"/tickets/{number}/edit")
        token = hidden(edit.text)
        attempts = {
            "edit": (f"/tickets/{number}/edit", {
                "csrf_token": token, "version": hidden(edit.text, "version"),
                "original": hidden(edit.text, "original"), "title": "Locked out",
                "description": "x", "status": "open", "priority": "low"}),
            "reply": (f"/tickets/{number}/comments", {"csrf_token": token, "body": "blocked"}),
            "bulk": ("/tickets/bulk", {"csrf_token": token, "ids": str(ticket_id),
                                       "action": "status", "value": "resolved"}),
            "merge into it": (f"/tickets/{other}/merge", {"csrf_token": token,
                                                          "into": str(number)}),
        }  # fmt: skip
        with RowLock(url, number):
            for name, (path, data) in attempts.items():
                started = time.monotonic()
                response = client.request(path, data)
                elapsed = time.monotonic() - started
                assert response.status == 503, (name, response.status)
                assert "Busy, try again" in response.text, name
                assert elapsed < 2, (name, elapsed)
            # "Take next" skips the locked row instead of waiting for it.
            started = time.monotonic()
            taken = client.request("/tickets/take-next", {"csrf_token": token})
            assert taken.status == 303
            assert taken.location != f"/tickets/{number}"
            assert time.monotonic() - started < 2
    with app.app_context():
        ticket = db.session.scalars(sa.select(Ticket).where(Ticket.number == number)).one()
        assert ticket.title != "Locked out"
        assert ticket.status.value == "open"
        assert db.session.scalar(
            sa.select(sa.func.count()).where(Comment.body == "blocked")
        ) == 0  # fmt: skip


def _sockets_to_postgres(pid):
    """Return how many TCP sockets process ``pid`` holds to port 5432."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[2].endswith(":1538"):  # remote port 5432
            inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        match = re.match(r"socket:\[(\d+)\]", target)
        if match and match.group(1) in inodes:
            held += 1
    return held


def test_preloaded_workers_never_share_a_connection(site, tmp_path):
    app, url = site
    env = _env(url)
    env["GUNICORN_CMD_ARGS"] = "--preload"
    with gunicorn(env, workers=2, log=tmp_path / "g.log") as server:
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(lambda _: get(server.url + "/health/database")[0], range(200)))
        assert codes == [200] * 200
        workers = server.workers()
        assert len(workers) == 2
        assert _sockets_to_postgres(server.pid) == 0
        assert all(_sockets_to_postgres(w) >= 1 for w in workers)
    assert "SSL" not in (tmp_path / "g.log").read_text()


def test_post_fork_drops_connections_inherited_from_the_master(site):
    # The hook itself: a master that connected before forking hands the worker no pool.
    app, _ = site
    config = {}
    exec(compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), config)  # noqa: S102
    real = sys.modules.get("supportdesk.wsgi")
    sys.modules["supportdesk.wsgi"] = type(sys)("supportdesk.wsgi")
    sys.modules["supportdesk.wsgi"].app = app
    try:
        with app.app_context():
            with db.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            before = db.engine.pool.checkedin()
            config["post_fork"](None, None)
            after = db.engine.pool.checkedin()
    finally:
        del sys.modules["supportdesk.wsgi"]
        if real is not None:
            sys.modules["supportdesk.wsgi"] = real
    assert before >= 1
    assert after == 0


def test_sigterm_lets_the_request_in_flight_finish(site, tmp_path):
    app, url = site
    number = _number(app, 5)
    env = _env(url, DB_LOCK_TIMEOUT_MS=8000, GRACEFUL_TIMEOUT=20)
    log = tmp_path / "g.log"
    with gunicorn(env, workers=2, log=log) as server:
        client = _agent(server.url)
        with ThreadPoolExecutor(1) as pool, RowLock(url, number):
            in_flight = pool.submit(_comment, client, number, "finished during shutdown")
            time.sleep(0.7)  # the request waits on the lock inside a transaction
            os.kill(server.pid, signal.SIGTERM)
            time.sleep(0.7)
        response = in_flight.result(timeout=20)  # the lock is gone: it can finish
        assert response.status == 303
    with app.app_context():
        assert db.session.scalar(
            sa.select(sa.func.count()).where(Comment.body == "finished during shutdown")
        ) == 1  # fmt: skip
    assert "Shutting down: Master" in log.read_text()


def test_a_connection_lost_after_the_page_was_made_is_not_a_500(fresh_app):
    # The request's last statement is the ROLLBACK that ends its session; a restart
    # between the page and that ROLLBACK used to escape the teardown as a bare 500.
    from flask import g

    admin = _admin_engine(fresh_app.config["SQLALCHEMY_DATABASE_URI"])

    def kill_my_backend(response):
        pid = g.get("backend_pid")
        if pid is not None:
            with admin.connect() as connection:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return response

    @fresh_app.before_request
    def remember_backend():
        g.backend_pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar()

    fresh_app.after_request(kill_my_backend)
    client = fresh_app.test_client()
    response = client.get("/health")
    assert response.status_code == 200
    assert client.get("/health").status_code == 200  # the pool reconnects
    admin.dispose()
