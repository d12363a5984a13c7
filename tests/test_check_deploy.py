import pytest
import sqlalchemy as sa

from supportdesk.config import engine_options, load_settings
from supportdesk.deploycheck import check_deploy

SECRET = "k" * 64
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
        ({"SUPPORTDESK_SECRET_KEY": "changeme"}, "short or well known"),
        ({"SUPPORTDESK_HTTPS": "0"}, "session cookies are not Secure"),
        ({"SUPPORTDESK_DATABASE_URL": "sqlite:////tmp/x.db"}, "SQLite"),
        ({"SUPPORTDESK_QUERY_STATS": "1"}, "reveal query counts"),
        ({"SUPPORTDESK_MAX_REQUEST_MB": "10"}, "below SUPPORTDESK_MAX_ATTACHMENT_MB"),
        ({"SUPPORTDESK_WORKERS": "8"}, "Pools may open 120 connections"),
        ({"SUPPORTDESK_RATELIMIT_STORAGE_URL": "memory://"}, "no limit at all"),
    ],
)
def test_each_unsafe_setting_is_reported(environ, message):
    config, env = _config(**environ)
    problems = check_deploy(config, env, server=SERVER)
    assert any(message in p for p in problems), problems


def test_an_unreachable_server_is_reported():
    config, env = _config()
    assert any("could not be checked" in p for p in check_deploy(config, env, server=None))


def test_cli_exits_1_on_a_development_setup(runner):
    result = runner.invoke(args=["check-deploy"])
    assert result.exit_code == 1
    assert "SUPPORTDESK_ENV is not 'production'" in result.output
    assert "unsafe setting(s)" in result.output
