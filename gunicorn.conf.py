"""Gunicorn settings for a checkout (``gunicorn -c gunicorn.conf.py``).

The settings live in the package, so an installed desk uses the same ones:
``gunicorn -c python:supportdesk.gunicorn_conf`` (see docs/deployment.md).
"""

from supportdesk.gunicorn_conf import *  # noqa: F403
