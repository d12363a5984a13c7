"""supportdesk: a self-hosted help desk."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask

from supportdesk.config import (
    ConfigError,
    engine_options,
    load_settings,
    resolve_database_url,
    resolve_secret_key,
)
from supportdesk.paths import MIGRATIONS, STATIC, TEMPLATES
from supportdesk.timing import TimedFlask
from supportdesk.version import __version__

__all__ = ["ConfigError", "__version__", "create_app"]

MIGRATIONS_DIR = MIGRATIONS


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the application. Never touches the database (workers may fork afterwards).

    :param overrides: setting names without the ``SUPPORTDESK_`` prefix; they win over
        the environment.
    :raises ConfigError: a setting is missing or invalid.
    """
    values = load_settings(os.environ, overrides)
    app = TimedFlask(
        __name__,
        instance_relative_config=True,
        # The data folder (SQLite file, attachments, outbox, generated key) unless each is
        # set; Flask's default is beside a checkout, or <venv>/var/ for an installed wheel.
        instance_path=values["INSTANCE_DIR"] and str(Path(values["INSTANCE_DIR"]).resolve()),
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
    )
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    url = resolve_database_url(values, app.instance_path)
    app.config.update(values)
    app.config.update(
        SECRET_KEY=resolve_secret_key(values, app.instance_path),
        SQLALCHEMY_DATABASE_URI=url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(values, url),
        MAX_CONTENT_LENGTH=values["MAX_REQUEST_MB"] * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Under HTTPS the cookie is Secure and __Host- prefixed (no Domain, path /), so
        # neither plain HTTP nor a sibling subdomain can set or read it.
        SESSION_COOKIE_SECURE=values["HTTPS"],
        SESSION_COOKIE_NAME="__Host-session" if values["HTTPS"] else "session",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(minutes=values["SESSION_IDLE_MINUTES"]),
        RATELIMIT_STORAGE_URI=values["RATELIMIT_STORAGE_URL"],
        RATELIMIT_HEADERS_ENABLED=True,
        # The IETF draft's names (draft-ietf-httpapi-ratelimit-headers), not X-RateLimit-*.
        RATELIMIT_HEADER_LIMIT="RateLimit-Limit",
        RATELIMIT_HEADER_REMAINING="RateLimit-Remaining",
        RATELIMIT_HEADER_RESET="RateLimit-Reset",
        # A CSRF token lives as long as the login session: an agent who keeps a reply
        # open over lunch must not lose it to an expired token.
        WTF_CSRF_TIME_LIMIT=None,
    )
    logging.getLogger("supportdesk").setLevel(values["LOG_LEVEL"].upper())

    _init_extensions(app)
    _register_blueprints(app)

    from supportdesk.api import openapi
    from supportdesk.api import views as api_views

    openapi.init_app(app, api_views.bp)
    app.register_blueprint(api_views.docs_bp)

    from supportdesk import assets, cli, errors, observability, replicas, timing, web
    from supportdesk.auth import account, resets
    from supportdesk.mail import notices
    from supportdesk.mail import service as mail
    from supportdesk.proxy import TrustedProxies
    from supportdesk.reports import snapshots
    from supportdesk.webhooks import service as webhooks

    replicas.init_app(app, app.config["SQLALCHEMY_ENGINE_OPTIONS"])
    mail.init_app(app)
    notices.init_app(app)
    webhooks.init_app(app)
    resets.init_app(app)
    snapshots.init_app(app)
    web.init_app(app)
    timing.init_app(app)
    account.init_app(app)
    assets.init_app(app)
    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app, lambda: app.config["TRUSTED_PROXIES"]
    )
    app.jinja_env.globals["app_version"] = __version__
    observability.init_app(app)
    errors.init_app(app)
    cli.init_app(app)
    return app


def _init_extensions(app: Flask) -> None:
    from supportdesk import (
        models,  # noqa: F401  (registers every table on the metadata)
        querystats,
    )
    from supportdesk.audit import listeners as audit_listeners
    from supportdesk.db import configure_engine
    from supportdesk.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    with app.app_context():  # creating the engine does not connect
        configure_engine(db.engine, busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"])
        querystats.install(db.engine, slow_ms=app.config["SLOW_QUERY_MS"])
        audit_listeners.register(db.session, db.engine)


def _register_blueprints(app: Flask) -> None:
    from supportdesk.audit.views import bp as audit_bp
    from supportdesk.auth.account import bp as account_bp
    from supportdesk.auth.account import profile_bp
    from supportdesk.auth.views import bp as auth_bp
    from supportdesk.desk.customer_views import bp as customers_bp
    from supportdesk.desk.files import bp as attachments_bp
    from supportdesk.desk.views import bp as tickets_bp
    from supportdesk.health.views import bp as health_bp
    from supportdesk.macros.views import bp as macros_bp
    from supportdesk.mail.views import bp as mail_bp
    from supportdesk.reports.views import bp as reports_bp
    from supportdesk.tags.views import bp as tags_bp
    from supportdesk.users.views import bp as users_bp
    from supportdesk.webhooks.views import bp as webhooks_bp

    blueprints = (auth_bp, health_bp, tickets_bp, tags_bp, users_bp, attachments_bp, audit_bp,
                  reports_bp, macros_bp, customers_bp, mail_bp, account_bp,
                  webhooks_bp, profile_bp)  # fmt: skip
    for bp in blueprints:
        app.register_blueprint(bp)
