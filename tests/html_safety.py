"""Find markup in a rendered page that could run script: the XSS tests' judge.

It parses the page the way a browser tokenises it (html.parser) and reports every element,
attribute or URL that could execute: a script-capable element, an event-handler attribute, a
``javascript:``/``data:``/``vbscript:`` URL, a style attribute outside the few the templates
set. The pages' own inline SVG charts and <details> pass: an event attribute or a script
element inside them would not. Inside a ``.markdown`` block (rendered ticket text) only
the sanitiser's allow-list of tags may appear at all.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from supportdesk.rendering import ALLOWED_TAGS

DANGEROUS_TAGS = frozenset(
    {
        "script", "iframe", "frame", "frameset", "object", "embed", "applet", "math",
        "base", "link", "style", "meta", "img", "video", "audio", "source", "isindex",
        "keygen", "marquee", "x", "foreignobject", "animate", "set", "use", "handler",
    }
)  # fmt: skip
# What the page chrome itself legitimately contains in <head>: meta, the stylesheet, and
# the app's own scripts from /static/js/ (no inline code: the CSP forbids it anyway).
HEAD_TAGS = frozenset({"meta", "link"})
_OWN_SCRIPT = re.compile(r"^/static/js/[\w.-]+\.js(\?v=[0-9a-f]{12})?$")
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "data", "srcdoc", "xlink:href"})
_SAFE_URL = re.compile(r"^(https?:|mailto:|/|\?|#|[^:/?#]*$)", re.IGNORECASE)
_VOID = frozenset(
    {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)


class _Judge(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, opens a .markdown block)
        self.in_head = False
        self.in_own_script = False

    def handle_data(self, data):
        if self.in_own_script and data.strip():
            self.problems.append("inline code in a <script src> element")

    @property
    def in_markdown(self) -> bool:
        return any(opens for _, opens in self.stack)

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
        own_script = (
            self.in_head and tag == "script" and _OWN_SCRIPT.match(dict(attrs).get("src") or "")
        )
        if tag in DANGEROUS_TAGS and not (self.in_head and tag in HEAD_TAGS) and not own_script:
            self.problems.append(f"<{tag}> element")
        self.in_own_script = bool(own_script)
        if self.in_markdown and tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}> inside rendered Markdown")
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"{name}= on <{tag}>")
            own_icon = (
                self.in_head
                and tag == "link"
                and dict(attrs).get("rel") == "icon"
                and value.startswith("data:image/svg+xml,")
            )  # base.html's favicon
            if (name in URL_ATTRIBUTES and not own_icon
                    and not _SAFE_URL.match(re.sub(r"\s", "", value))):  # fmt: skip
                self.problems.append(f"{name}={value!r} on <{tag}>")
            if (
                name == "style"
                and self.in_markdown
                and not re.fullmatch(r"text-align:\s*(left|right|center)", value)
            ):
                self.problems.append(f"style={value!r} inside rendered Markdown")
        if tag not in _VOID:
            classes = dict(attrs).get("class") or ""
            self.stack.append((tag, "markdown" in classes.split()))

    def handle_endtag(self, tag):
        self.in_own_script = False
        if tag == "head":
            self.in_head = False
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break


def script_risks(html: str) -> list[str]:
    """Every construct in ``html`` that could run script, as short descriptions."""
    judge = _Judge()
    judge.feed(html)
    judge.close()
    return judge.problems
