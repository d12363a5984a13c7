from pathlib import Path

import pytest
import sqlalchemy as sa

from supportdesk.config import ConfigError, engine_options, load_settings
from supportdesk.deploycheck import check_deploy, limiter_storage_error

STATIC = Path(__file__).resolve().parents[1] / "static"

SECRET = "h8Jr2_qLm0xZv9Tn4WcQe7Ya1Ks6Pd3Fg5Bu-Ni"  # 40 random characters
PG = "postgresql+psycopg2://supportdesk:pw@db/supportdesk"
SERVER = {"max_connections": 100, "superuser_reserved_connections": 3}


def _config(**environ):
    env = {"SUPPORTDESK_ENV": "production", "SUPPORTDESK_SECRET_KEY": SECRET,
           "SUPPORTDESK_DATABASE_URL": PG,
           "SUPPORTDESK_RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0", **environ}  # fmt: skip
    values = load_settings(env)
    url = sa.make_url(values["DATABASE_URL"])
    config = dict(values, SQLALCHEMY_DATABASE_URI=url,
                  SQLALCHEMY_ENGINE_OPTIONS=engine_options(values, url))  # fmt: skip
    return config, env


def test_the_documented_production_settings_pass():
    config, env = _config()
    assert check_deploy(config, env, server=SERVER) == []


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SUPPORTDESK_ENV": "development"}, "SUPPORTDESK_ENV is not 'production'"),
        ({"FLASK_DEBUG": "1"}, "Debug mode is on"),
        ({"SUPPORTDESK_SECRET_KEY": "changeme"}, "short, well known or not random"),
        ({"SUPPORTDESK_SECRET_KEY": " " * 32}, "short, well known or not random"),
        ({"SUPPORTDESK_SECRET_KEY": "a" * 32}, "short, well known or not random"),
        ({"SUPPORTDESK_SECRET_KEY": "password" * 5}, "short, well known or not random"),
        ({"SUPPORTDESK_SECRET_KEY": "k" * 64}, "short, well known or not random"),
        ({"SUPPORTDESK_METRICS_TOKEN": "abc123"}, "SUPPORTDESK_METRICS_TOKEN is shorter"),
        ({"SUPPORTDESK_ATTACHMENT_DIR": str(STATIC / "files")}, "inside static/"),
        ({"SUPPORTDESK_DB_STATEMENT_TIMEOUT_MS": "0"}, "a runaway query never ends"),
        ({"SUPPORTDESK_SESSION_MAX_HOURS": "48"}, "above 24"),
        ({"SUPPORTDESK_HTTPS": "0"}, "session cookies are not Secure"),
        ({"SUPPORTDESK_DATABASE_URL": "sqlite:////tmp/x.db"}, "SQLite"),
        ({"SUPPORTDESK_QUERY_STATS": "1"}, "reveal query counts"),
        ({"SUPPORTDESK_MAX_REQUEST_MB": "10"}, "below SUPPORTDESK_MAX_ATTACHMENT_MB"),
        ({"SUPPORTDESK_WORKERS": "8"}, "Pools may open 120 connections"),
        ({"SUPPORTDESK_RATELIMIT_STORAGE_URL": "memory://"}, "no limit at all"),
        ({"SUPPORTDESK_MFA_REQUIRED": "none"}, "admins can log in with a password alone"),
        ({"SUPPORTDESK_BASE_URL": "http://desk.example.org"}, "password links would travel"),
        ({"SUPPORTDESK_WEBHOOK_ALLOW_HTTP": "1"}, "webhooks may be sent unencrypted"),
        ({"SUPPORTDESK_WEBHOOK_ALLOW_PRIVATE": "1"}, "webhooks may reach the desk's own network"),
    ],
)
def test_each_unsafe_setting_is_reported(environ, message):
    config, env = _config(**environ)
    problems = check_deploy(config, env, server=SERVER)
    assert any(message in p for p in problems), problems


def test_an_unreachable_limiter_storage_is_reported():
    config, env = _config()
    assert limiter_storage_error("redis://127.0.0.1:9/0") is not None
    problems = check_deploy(config, env, server=SERVER, limiter_storage_error="no answer")
    assert any("rate limiter's storage does not answer" in p for p in problems)


def test_a_limit_the_limiter_cannot_read_stops_the_app():
    with pytest.raises(ConfigError, match="SUPPORTDESK_LOGIN_RATE_LIMIT must be a limit"):
        load_settings({"SUPPORTDESK_LOGIN_RATE_LIMIT": "lots"})


def test_logins_fail_closed_with_503_while_redis_is_away(tmp_path):
    import flask_migrate

    from supportdesk.extensions import limiter
    from tests.conftest import make_app

    enabled = limiter.enabled
    try:
        app = make_app(f"sqlite:///{tmp_path}/r.db", tmp_path, RATELIMIT_ENABLED=True,
                       RATELIMIT_STORAGE_URL="redis://127.0.0.1:9/0",
                       WTF_CSRF_ENABLED=False)  # fmt: skip
        with app.app_context():
            flask_migrate.upgrade()
        response = app.test_client().post("/login", data={"email": "a@b.c", "password": "x"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        assert "Sign-ins are paused" in response.text
    finally:
        limiter.enabled = enabled


def test_an_unreachable_server_is_reported():
    config, env = _config()
    assert any("could not be checked" in p for p in check_deploy(config, env, server=None))


def test_cli_exits_1_on_a_development_setup(runner):
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "SUPPORTDESK_ENV is not 'production'" in result.output
    assert "unsafe setting(s)" in result.output
