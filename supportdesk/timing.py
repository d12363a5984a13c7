"""Where a request's server time goes: SQL, the view's Python, templates, the rest.

The ``Server-Timing`` header (shown by a browser's developer tools, read by ``make bench``)
splits each request's time into four parts that add up to ``app``:

- ``db``: executing SQL statements and fetching their rows (``querystats``);
- ``view``: the view function's own Python, outside SQL and templates — building ORM
  objects from rows, forms, the page's logic;
- ``tpl``: rendering templates (SQL run while rendering counts as ``db``);
- ``rest``: everything around the view — the before/after hooks (login, CSRF, session,
  audit context), routing and the response's headers.

Only with ``SUPPORTDESK_QUERY_STATS`` on (the bench; never needed in production).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, g
from flask.signals import before_render_template, template_rendered

from supportdesk import querystats


@dataclass
class Split:
    """Seconds spent in the view and in templates, each without the SQL run inside it."""

    view: float = 0.0
    view_sql: float = 0.0
    template: float = 0.0
    template_sql: float = 0.0
    template_depth: int = 0
    template_started: float = 0.0
    template_sql_started: float = 0.0


def reset() -> None:
    """Start timing afresh (called at the start of each request, like ``querystats``)."""
    g._timing = Split()


def _split() -> Split:
    split: Split | None = g.get("_timing")
    if split is None:
        split = g._timing = Split()
    return split


class TimedFlask(Flask):
    """Flask that times its view functions (``dispatch_request``) for ``Server-Timing``."""

    def dispatch_request(self) -> Any:  # noqa: D102 - Flask's method, timed
        if not self.config.get("QUERY_STATS"):
            return super().dispatch_request()
        split = _split()
        stats = querystats.current()
        started, sql_before = time.perf_counter(), stats.seconds
        try:
            return super().dispatch_request()
        finally:
            split.view += time.perf_counter() - started
            split.view_sql += stats.seconds - sql_before


def _template_started(app: Flask, **_: Any) -> None:
    if not app.config.get("QUERY_STATS"):
        return
    split = _split()
    if split.template_depth == 0:  # a template rendered inside another counts once
        split.template_started = time.perf_counter()
        split.template_sql_started = querystats.current().seconds
    split.template_depth += 1


def _template_finished(app: Flask, **_: Any) -> None:
    if not app.config.get("QUERY_STATS"):
        return
    split = _split()
    split.template_depth -= 1
    if split.template_depth == 0:
        split.template += time.perf_counter() - split.template_started
        split.template_sql += querystats.current().seconds - split.template_sql_started


def init_app(app: Flask) -> None:
    """Time this app's template rendering (the views are timed by ``TimedFlask``)."""
    before_render_template.connect(_template_started, app)
    template_rendered.connect(_template_finished, app)


def server_timing(total: float) -> str:
    """Return the ``Server-Timing`` value for a request that took ``total`` seconds."""
    split = _split()
    sql = querystats.current().seconds
    # Templates are rendered inside the view (render_template) or after it (a streamed or
    # error page): only the part inside the view is taken off the view's own time.
    template = max(split.template - split.template_sql, 0.0)
    view = max(split.view - split.view_sql - min(template, split.view), 0.0)
    rest = max(total - sql - view - template, 0.0)
    parts = {"app": total, "db": sql, "view": view, "tpl": template, "rest": rest}
    return ", ".join(f"{name};dur={seconds * 1000:.2f}" for name, seconds in parts.items())
