"""Gunicorn settings, read from SUPPORTDESK_* variables (see README, "Deployment")."""

import os

from supportdesk.config import PREFIX, ConfigError, int_setting, validate_environment

try:
    # Fail in the master with one clear line, before any worker is forked.
    validate_environment(os.environ)
    bind = os.environ.get(f"{PREFIX}BIND", "127.0.0.1:8000")
    workers = int_setting(1, 64)("WORKERS", os.environ.get(f"{PREFIX}WORKERS", "2"))
    # Pool checkouts time out after SUPPORTDESK_DB_POOL_TIMEOUT (3 s) and statements after
    # statement_timeout (30 s), so a request never needs gunicorn's timeout to end it.
    timeout = int_setting(5, 3600)("TIMEOUT", os.environ.get(f"{PREFIX}TIMEOUT", "60"))
    graceful_timeout = int_setting(1, 3600)(
        "GRACEFUL_TIMEOUT", os.environ.get(f"{PREFIX}GRACEFUL_TIMEOUT", "30")
    )
except ConfigError as exc:
    raise SystemExit(f"supportdesk: configuration error: {exc}") from None

wsgi_app = "wsgi:app"
accesslog = "-"
errorlog = "-"
