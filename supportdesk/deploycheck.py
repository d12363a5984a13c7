"""``flask check-deploy``: the unsafe production settings, like Django's ``check --deploy``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

WEAK_SECRETS = {"dev", "secret", "changeme", "change-me", "supportdesk", "test", "x"}
RESERVED_CONNECTIONS = 5  # for migrations, backups and a psql session


def check_deploy(
    config: Mapping[str, Any], environ: Mapping[str, str], *, server: Mapping[str, int] | None
) -> list[str]:
    """Return one sentence per unsafe setting (empty when the deployment looks safe).

    :param server: PostgreSQL's ``max_connections`` and ``superuser_reserved_connections``,
        or None when they could not be read.
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
    elif len(secret) < 32 or secret.lower() in WEAK_SECRETS:
        problems.append("SUPPORTDESK_SECRET_KEY is short or well known; use 32+ random characters.")
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
