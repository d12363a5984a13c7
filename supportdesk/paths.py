"""Where the templates, static files and migrations are.

Inside the installed package (the wheel maps them there), or beside the package at the
top of a checkout.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _find(name: str) -> Path:
    installed = PACKAGE / name
    return installed if installed.is_dir() else PACKAGE.parent / name


TEMPLATES = _find("templates")
STATIC = _find("static")
MIGRATIONS = _find("migrations")
