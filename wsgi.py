"""WSGI entry point in a checkout: ``gunicorn wsgi:app``; also how ``flask`` finds the app.

The same app as ``supportdesk.wsgi:app``, which an installed desk uses.
"""

from supportdesk.wsgi import app

__all__ = ["app"]
