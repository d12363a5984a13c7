"""Static files under content-hashed URLs: ``/static/css/app.css?v=<sha256 prefix>``.

Every ``url_for('static', …)`` gets the file's digest, so a changed stylesheet has a new
URL and is never served stale, while an unchanged one may be cached for a year (by the
browser, and by nginx serving ``/static/`` itself).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, current_app

YEAR_SECONDS = 365 * 86_400


def init_app(app: Flask) -> None:
    """Add the digest to every static URL the app builds."""
    app.url_defaults(_versioned)


def _versioned(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint != "static" or "filename" not in values or "v" in values:
        return
    folder = current_app.static_folder
    if folder is None:
        return
    path = Path(folder) / str(values["filename"])
    try:
        stat = path.stat()
    except OSError:
        return  # a missing file: the URL stays plain and answers 404
    values["v"] = _digest(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=512)
def _digest(path: str, mtime_ns: int, size: int) -> str:
    """Return the first 12 hex digits of the file's SHA-256 (new when it changes)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
