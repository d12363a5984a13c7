import os
import subprocess
import sys
from pathlib import Path

import pytest

from supportdesk import create_app
from supportdesk.config import ConfigError, engine_options, load_settings
from supportdesk.version import __version__

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("DB_POOL_SIZE", "abc", "SUPPORTDESK_DB_POOL_SIZE must be a whole number"),
        ("DB_POOL_SIZE", "0", "SUPPORTDESK_DB_POOL_SIZE must be between 1 and 1000"),
        ("DB_POOL_TIMEOUT", "-3", "SUPPORTDESK_DB_POOL_TIMEOUT must be between 1 and 600"),
        ("DATABASE_URL", "mysql://root@localhost/x", "SUPPORTDESK_DATABASE_URL has an unsupported"),
        ("DATABASE_URL", "not a url", "SUPPORTDESK_DATABASE_URL is not a database URL"),
        ("ENV", "staging", "SUPPORTDESK_ENV must be one of"),
        ("QUERY_STATS", "maybe", "SUPPORTDESK_QUERY_STATS must be"),
        ("IMAP_URL", "pop3://u:p@host/INBOX", "SUPPORTDESK_IMAP_URL must look like imaps://"),
        ("IMAP_URL", "imaps://host:993/INBOX", "SUPPORTDESK_IMAP_URL must look like"),  # no user
        ("IMAP_URL", "imaps://u:p@host:99x/INBOX", "SUPPORTDESK_IMAP_URL has a port that is not"),
        ("IMAP_DONE_ACTION", "archive", "SUPPORTDESK_IMAP_DONE_ACTION must be one of"),
        (
            "MAIL_ADDRESSES",
            "Help <help@acme.example>",
            "SUPPORTDESK_MAIL_ADDRESSES: 'Help' is not a bare address",
        ),
        ("MAIL_SENDER_LIMIT", "0", "SUPPORTDESK_MAIL_SENDER_LIMIT must be between 1"),
        ("SMTP_URL", "smtp://host:25x", "SUPPORTDESK_SMTP_URL has a port that is not a number"),
    ],
)
def test_invalid_setting_names_the_variable(variable, value, expected):
    with pytest.raises(ConfigError, match=expected):
        load_settings({f"SUPPORTDESK_{variable}": value})


def test_mail_in_settings_are_read():
    values = load_settings({
        "SUPPORTDESK_IMAP_URL": "imaps://a%40b.example:p@h1:993/INBOX imap://c:d@h2/Support%20In",
        "SUPPORTDESK_MAIL_ADDRESSES": "Help@Acme.example, billing@acme.example",
        "SUPPORTDESK_NOTIFY_STAFF": "0",
    })  # fmt: skip
    assert len(values["IMAP_URL"]) == 2
    assert values["MAIL_ADDRESSES"] == ("help@acme.example", "billing@acme.example")
    assert values["NOTIFY_STAFF"] is False
    assert values["IMAP_DONE_FOLDER"] == "Processed"


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({}, {"DB_POOL_SIZ": 3})


def test_defaults_match_the_documented_values():
    values = load_settings({})
    assert values["DB_POOL_SIZE"] == 5
    assert values["DB_MAX_OVERFLOW"] == 10
    assert values["DB_POOL_TIMEOUT"] == 3
    assert values["DB_POOL_RECYCLE"] == 3600
    assert values["DB_STATEMENT_TIMEOUT_MS"] == 30000
    assert values["DB_LOCK_TIMEOUT_MS"] == 5000
    assert values["QUERY_STATS"] is True
    assert load_settings({"SUPPORTDESK_ENV": "production"})["QUERY_STATS"] is False


def test_postgresql_engine_options_carry_timeouts_and_pool():
    values = load_settings({"SUPPORTDESK_DB_STATEMENT_TIMEOUT_MS": "1234"})
    from sqlalchemy import make_url

    options = engine_options(values, make_url("postgresql+psycopg2://u@h/db"))
    assert options["pool_pre_ping"] is True
    assert options["pool_size"] == 5
    assert options["max_overflow"] == 10
    assert options["pool_timeout"] == 3
    assert options["pool_recycle"] == 3600
    args = options["connect_args"]
    assert args["connect_timeout"] == 10
    assert args["application_name"] == "supportdesk"
    assert "statement_timeout=1234" in args["options"]
    assert "lock_timeout=5000" in args["options"]


def test_production_without_secret_key_fails_clearly(tmp_path):
    with pytest.raises(ConfigError, match="SUPPORTDESK_SECRET_KEY is required"):
        create_app({"ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def test_development_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    from supportdesk.config import resolve_secret_key

    values = load_settings({})
    first = resolve_secret_key(values, str(tmp_path))
    second = resolve_secret_key(values, str(tmp_path))
    assert first == second
    assert len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def _run_wsgi(env_overrides):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env.update(env_overrides)
    return subprocess.run(  # noqa: S603  (fixed argv, our own interpreter)
        [sys.executable, "-c", "import wsgi"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_wsgi_start_with_bad_value_prints_one_line_and_exits_non_zero():
    result = _run_wsgi({"SUPPORTDESK_DB_POOL_SIZE": "abc"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "supportdesk: configuration error: SUPPORTDESK_DB_POOL_SIZE must be a whole number, "
        "got 'abc'"
    ]


def test_create_app_does_not_touch_the_database(tmp_path):
    # Nothing listens on port 9; building the app must still succeed and serve /health.
    app = create_app(
        {"DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:9/none", "SECRET_KEY": "x"}
    )
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": __version__}


def test_gunicorn_config_refuses_bad_settings_in_the_master():
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTDESK_")}
    env["SUPPORTDESK_ENV"] = "production"
    result = subprocess.run(  # noqa: S603  (fixed argv, our own interpreter)
        [sys.executable, "-c", "import runpy; runpy.run_path('gunicorn.conf.py')"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith(
        "supportdesk: configuration error: SUPPORTDESK_SECRET_KEY is required"
    )
