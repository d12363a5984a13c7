"""Brute-force protection: per account in the database, per address with Flask-Limiter."""

import datetime as dt
import socket

import pytest

from supportdesk.db import utcnow
from supportdesk.extensions import db
from supportdesk.models import User
from supportdesk.users.service import LOCK_AFTER
from tests.conftest import PASSWORD, make_app
from tests.factories import UserFactory

WRONG = "not the password"


def _login(client, user, password):
    return client.post("/login", data={"email": user.email, "password": password})


def test_an_account_locks_after_a_handful_of_failures_even_for_the_right_password(client):
    user = UserFactory()
    for _ in range(LOCK_AFTER):
        assert _login(client, user, WRONG).status_code == 401
    db.session.expire_all()
    locked = db.session.get(User, user.id)
    assert locked.failed_logins == LOCK_AFTER
    assert locked.locked_until > utcnow()
    refused = _login(client, user, PASSWORD)
    assert refused.status_code == 401
    assert "Email or password is wrong" in refused.text  # the same answer: nothing leaks


def test_the_delay_grows_and_a_success_after_it_resets_the_count(client):
    user = UserFactory()
    for _ in range(LOCK_AFTER + 2):
        _login(client, user, WRONG)
        db.session.get(User, user.id).locked_until = None  # pretend each delay passed
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.failed_logins == LOCK_AFTER + 2
    stored.locked_until = utcnow() - dt.timedelta(seconds=1)
    assert _login(client, user, PASSWORD).status_code == 303
    db.session.expire_all()
    assert db.session.get(User, user.id).failed_logins == 0


def test_lock_delay_is_capped(app):
    from supportdesk.users.service import LOCK_MAX, authenticate

    user = UserFactory(failed_logins=100)
    db.session.flush()
    authenticate(user.email, WRONG)
    assert user.locked_until - utcnow() <= LOCK_MAX


@pytest.fixture(autouse=True)
def _limiter_restored():
    """Apps made here switch the one, module-level limiter on for every app: switch it off
    again, or later tests' logins would count towards it (they did, once enough of them
    logged in within a minute)."""
    from supportdesk.extensions import limiter

    enabled = limiter.enabled
    yield
    limiter.enabled = enabled


@pytest.fixture
def limited_app(tmp_path):
    import flask_migrate

    app = make_app(f"sqlite:///{tmp_path}/l.db", tmp_path, RATELIMIT_ENABLED=True,
                   LOGIN_RATE_LIMIT="3 per minute", WTF_CSRF_ENABLED=False)  # fmt: skip
    with app.app_context():
        flask_migrate.upgrade()
    return app


def test_the_address_limit_answers_429_with_retry_after(limited_app):
    client = limited_app.test_client()
    answers = [
        client.post("/login", data={"email": "x@example.com", "password": WRONG}).status_code
        for _ in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    blocked = client.post("/login", data={"email": "x@example.com", "password": WRONG})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert "Traceback" not in blocked.text
    assert client.get("/login").status_code == 200  # only POSTs are limited


def _redis_reachable():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _redis_reachable(), reason="no Redis at 127.0.0.1:6379")
def test_redis_storage_shares_the_count_between_workers(tmp_path):
    import flask_migrate

    key = "redis://127.0.0.1:6379/15"  # a database of its own, reset below
    apps = []
    for name in ("worker1", "worker2"):  # two apps stand for two gunicorn workers
        app = make_app(f"sqlite:///{tmp_path}/r.db", tmp_path / name, RATELIMIT_ENABLED=True,
                       LOGIN_RATE_LIMIT="2 per minute", WTF_CSRF_ENABLED=False,
                       RATELIMIT_STORAGE_URL=key)  # fmt: skip
        with app.app_context():
            flask_migrate.upgrade()
        apps.append(app)
    data = {"email": f"{tmp_path.name}@example.com", "password": WRONG}
    first, second = (a.test_client() for a in apps)
    with apps[0].app_context():
        from supportdesk.extensions import limiter

        limiter.reset()
    codes = [first.post("/login", data=data).status_code,
             second.post("/login", data=data).status_code,
             first.post("/login", data=data).status_code]  # fmt: skip
    assert codes == [401, 401, 429]


def test_one_client_guessing_one_account_is_stopped_without_blocking_others(tmp_path):
    import flask_migrate

    app = make_app(f"sqlite:///{tmp_path}/a.db", tmp_path, RATELIMIT_ENABLED=True,
                   LOGIN_RATE_LIMIT="100 per minute", LOGIN_ACCOUNT_RATE_LIMIT="3 per minute",
                   WTF_CSRF_ENABLED=False)  # fmt: skip
    with app.app_context():
        flask_migrate.upgrade()
        from supportdesk.extensions import limiter

        limiter.reset()
    client = app.test_client()
    codes = [client.post("/login", data={"email": "a@example.com", "password": WRONG}).status_code
             for _ in range(4)]  # fmt: skip
    assert codes == [401, 401, 401, 429]
    # The same client may still try another account (a shared office address).
    assert client.post("/login", data={"email": "b@example.com", "password": WRONG}
                       ).status_code == 401  # fmt: skip
