"""Markdown for ticket descriptions and comments, rendered to HTML and then sanitised.

Ticket text is written by customers and read by staff, so it is the first place an attacker
aims. Two layers keep it inert:

1. markdown-it-py (CommonMark) runs with raw HTML turned off: a ``<script>`` typed into a
   comment is escaped as text, never passed through. Images are turned off as well, since an
   external image in a ticket is a tracking pixel that tells the sender when staff opened it.
2. nh3 (the Rust ammonia sanitiser) then cleans the HTML against an allow-list of tags,
   attributes and URL schemes, so a renderer bug cannot hand the browser anything else. Every
   link gets ``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import lru_cache

import nh3
from flask import g, has_request_context
from markdown_it import MarkdownIt
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead",
        "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "td": {"style"}, "th": {"style"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"

_markdown = (
    MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    .enable(["table", "strikethrough"])
    .disable("image")
)


def _sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
        filter_style_properties={"text-align"},
    )


# Rendering costs about 0.5 ms per 400 characters, so a ticket with 200 comments would spend
# 100 ms on it at every view; each worker keeps the last renders of short texts (the common
# case: at most CACHE_MAX_CHARS each, so the cache stays under ~25 MB).
CACHE_MAX_CHARS = 4_000


def _render(text: str) -> str:
    return _sanitise(_markdown.render(text))


_render_cached = lru_cache(maxsize=2048)(_render)


# Texts are rendered once, when written, and stored beside the text with this version
# (Ticket.description_html, Comment.body_html): a page shows the stored HTML and renders
# nothing. A change to the renderer or its allow-list must raise the version; rows of an
# older version are rendered at view time until `flask render refresh` stores them anew.
RENDERER_VERSION = 1


def render_html(text: str | None) -> str:
    """Return the sanitised HTML to store for ``text`` (rendered now, never cached)."""
    return _render(text) if text else ""


def stored_markdown(text: str | None, html: str | None, version: int | None) -> Markup:
    """Return the stored HTML when it is of this renderer's version, else render ``text``."""
    if html is not None and version == RENDERER_VERSION:
        return Markup(html)  # noqa: S704  # nosec B704 - sanitised by nh3 when stored
    return render_markdown(text)


def render_markdown(text: str | None) -> Markup:
    """Return ``text`` as sanitised HTML, safe to put in a template as it is."""
    if not text:
        return Markup("")
    html = _render_cached(text) if len(text) <= CACHE_MAX_CHARS else _render(text)
    return Markup(html)  # noqa: S704  # nosec B704 - sanitised by nh3 just above


@lru_cache(maxsize=64)
def _zone_named(name: str | None) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else dt.UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def reader_zone() -> dt.tzinfo:
    """Return the signed-in person's time zone (set per request from their profile), or UTC."""
    return _zone_named(g.get("time_zone") if has_request_context() else None)


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format an absolute time in the reader's time zone (its abbreviation added)."""
    if value is None:
        return "—"
    local = value.astimezone(reader_zone())
    return f"{local:{fmt}} {local:%Z}"


def when(value: dt.datetime | None, now: dt.datetime | None = None) -> Markup:
    """Render a time as people read a list: "3 h ago", the exact time on hover (their zone).

    ``<time datetime>`` carries the instant for machines; ``title`` the full date and time
    with its zone. Future times read "in 2 d" (due times).
    """
    if value is None:
        return Markup('<span class="muted">—</span>')
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - value).total_seconds()
    ahead, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        text = "just now"
    else:
        for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
            if seconds >= size:
                amount = int(seconds // size)
                text = f"in {amount} {unit}" if ahead else f"{amount} {unit} ago"
                break
    local = value.astimezone(reader_zone())
    if seconds >= 30 * 86_400:
        text = f"{local:%Y-%m-%d}"
    full = local.strftime("%Y-%m-%d %H:%M %Z")
    # Every part is made here from numbers and a zone's abbreviation: nothing to escape
    # (Markup.format escaping 50 times a page showed in the list's profile).
    return Markup(f'<time datetime="{value.isoformat()}" title="{full}">{text}</time>')  # noqa: S704  # nosec B704
