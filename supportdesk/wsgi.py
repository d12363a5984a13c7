"""WSGI entry point of an installed desk: ``gunicorn 'supportdesk.wsgi:app'``."""

import sys

from supportdesk import ConfigError, create_app

try:
    app = create_app()
except ConfigError as exc:
    # One clear line instead of a traceback; gunicorn and `flask` both stop here.
    print(f"supportdesk: configuration error: {exc}", file=sys.stderr)  # noqa: T201
    raise SystemExit(1) from None
