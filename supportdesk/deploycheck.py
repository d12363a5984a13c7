"""``flask check-deploy``: the unsafe production settings, like Django's ``check --deploy``."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from limits.storage import storage_from_string
from sqlalchemy.engine import URL

from supportdesk.paths import STATIC

WEAK_SECRETS = {"dev", "secret", "changeme", "change-me", "supportdesk", "test", "x"}
RESERVED_CONNECTIONS = 5  # for migrations, backups and a psql session


def weak_secret(secret: str) -> bool:
    """Whether ``secret`` is too short, well known, or too regular to be random.

    32 spaces, ``a`` × 32 or a word repeated are long but guessable: the check wants at
    least 128 bits by the characters' own frequencies (Shannon), no repeating period, and
    at least 10 different characters.
    """
    if len(secret) < 32 or secret.lower() in WEAK_SECRETS or len(set(secret)) < 10:
        return True
    if (secret + secret).find(secret, 1) < len(secret):  # a shorter string, repeated
        return True
    counts = Counter(secret)
    bits = -sum(n * math.log2(n / len(secret)) for n in counts.values())
    return bits < 128


def check_deploy(
    config: Mapping[str, Any],
    environ: Mapping[str, str],
    *,
    server: Mapping[str, int] | None,
    limiter_storage_error: str | None = None,
) -> list[str]:
    """Return one sentence per unsafe setting (empty when the deployment looks safe).

    :param server: PostgreSQL's ``max_connections`` and ``superuser_reserved_connections``,
        or None when they could not be read.
    :param limiter_storage_error: why the rate limiter's storage did not answer, if not.
    """
    problems: list[str] = []
    url: URL = config["SQLALCHEMY_DATABASE_URI"]
    if config["ENV"] != "production":
        problems.append("SUPPORTDESK_ENV is not 'production'.")
    if environ.get("FLASK_DEBUG", "").lower() in {"1", "true", "yes", "on"} or config.get("DEBUG"):
        problems.append("Debug mode is on (FLASK_DEBUG): tracebacks and a console would be served.")
    secret = environ.get("SUPPORTDESK_SECRET_KEY", "")
    if not secret:
        problems.append("SUPPORTDESK_SECRET_KEY is not set (a generated development key is used).")
    elif weak_secret(secret):
        problems.append(
            "SUPPORTDESK_SECRET_KEY is short, well known or not random; use 32+ random "
            "characters (python -c 'import secrets; print(secrets.token_urlsafe(48))')."
        )
    if not config["HTTPS"]:
        problems.append("SUPPORTDESK_HTTPS is off: session cookies are not Secure and no HSTS.")
    if url.get_backend_name() == "sqlite":
        problems.append("The database is SQLite; production needs PostgreSQL.")
    if config["QUERY_STATS"]:
        problems.append("SUPPORTDESK_QUERY_STATS is on: responses reveal query counts and timings.")
    if str(config["RATELIMIT_STORAGE_URL"]).startswith("memory://"):
        problems.append(
            "SUPPORTDESK_RATELIMIT_STORAGE_URL is memory://: each gunicorn worker counts on "
            "its own, which is no limit at all; use redis://…"
        )
    if limiter_storage_error:
        problems.append(
            f"The rate limiter's storage does not answer ({limiter_storage_error}): every "
            "login would be refused with 503 until it does."
        )
    token = config.get("METRICS_TOKEN")
    if token and (len(token) < 32 or weak_secret(token)):
        problems.append("SUPPORTDESK_METRICS_TOKEN is shorter than 32 characters or not random.")
    if _inside_static(config.get("ATTACHMENT_DIR")):
        problems.append("SUPPORTDESK_ATTACHMENT_DIR is inside static/: files would be public.")
    if url.get_backend_name() == "postgresql" and not config["DB_STATEMENT_TIMEOUT_MS"]:
        problems.append("SUPPORTDESK_DB_STATEMENT_TIMEOUT_MS is 0: a runaway query never ends.")
    if config["SESSION_MAX_HOURS"] > 24:
        problems.append("SUPPORTDESK_SESSION_MAX_HOURS is above 24: log staff in once a day.")
    for name, what in (
        ("WEBHOOK_ALLOW_HTTP", "webhooks may be sent unencrypted (http://)"),
        ("WEBHOOK_ALLOW_PRIVATE", "webhooks may reach the desk's own network"),
    ):
        if config[name]:
            problems.append(f"SUPPORTDESK_{name} is on: {what}; it is for development.")
    if config["MFA_REQUIRED"] == "none":
        problems.append(
            "SUPPORTDESK_MFA_REQUIRED is none: admins can log in with a password alone."
        )
    base_url = config["BASE_URL"]
    if base_url and not str(base_url).startswith("https://"):
        problems.append(
            "SUPPORTDESK_BASE_URL is not https://: password links would travel in clear."
        )
    if config["MAX_REQUEST_MB"] < config["MAX_ATTACHMENT_MB"]:
        problems.append("SUPPORTDESK_MAX_REQUEST_MB is below SUPPORTDESK_MAX_ATTACHMENT_MB.")
    if url.get_backend_name() == "postgresql":
        workers = int(environ.get("SUPPORTDESK_WORKERS", "2"))
        needed = workers * (config["DB_POOL_SIZE"] + config["DB_MAX_OVERFLOW"])
        if server is None:
            problems.append("PostgreSQL did not answer, so pool sizing could not be checked.")
        else:
            available = (
                server["max_connections"]
                - server["superuser_reserved_connections"]
                - RESERVED_CONNECTIONS
            )
            if needed > available:
                problems.append(
                    f"Pools may open {needed} connections ({workers} workers × "
                    f"({config['DB_POOL_SIZE']} + {config['DB_MAX_OVERFLOW']})) but PostgreSQL "
                    f"allows {available} (max_connections − reserved)."
                )
    return problems


def _inside_static(folder: str | None) -> bool:
    if not folder:
        return False
    static = STATIC.resolve()
    target = Path(folder).resolve()
    return target == static or static in target.parents


def limiter_storage_error(storage_url: str) -> str | None:
    """Return why the rate limiter's storage does not answer, or None when it does."""
    try:
        storage = storage_from_string(storage_url)
        return None if storage.check() else "no answer"
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return type(exc).__name__


def read_server_limits(engine: sa.Engine) -> dict[str, int] | None:
    """Return PostgreSQL's connection limits, or None if it does not answer."""
    if engine.dialect.name != "postgresql":
        return None
    try:
        with engine.connect() as conn:
            return {
                name: int(
                    conn.execute(
                        sa.text("SELECT current_setting(:name)"), {"name": name}
                    ).scalar_one()
                )
                for name in ("max_connections", "superuser_reserved_connections")
            }
    except sa.exc.SQLAlchemyError:
        return None


def environment() -> Mapping[str, str]:
    """Return the process environment (a seam for tests)."""
    return os.environ
