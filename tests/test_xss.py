"""A corpus of XSS payloads in every user-editable field is rendered inert (escaped)."""

from pathlib import Path

from markupsafe import escape

from supportdesk.rendering import render_markdown
from supportdesk.tickets.service import add_comment
from tests.factories import TagFactory, TicketFactory, UserFactory
from tests.html_safety import script_risks

PAYLOADS = [
    line for line in (Path(__file__).parent / "xss_payloads.txt").read_text().splitlines()
    if line.strip()
]  # fmt: skip


def test_the_corpus_has_at_least_50_payloads():
    assert len(PAYLOADS) >= 50


def _assert_escaped(text, payload):
    # A plain-text field reaches the page as its escaped text: never a tag it opens, and a
    # template expression shows as typed (it was not evaluated).
    # (Quotes may stand unescaped in rendered Markdown text, where they are harmless; a quote
    # that broke out of an attribute would show up in script_risks as a new attribute.)
    if any(ch in payload for ch in "<>"):  # ("&lt;…" may be another payload's escaping)
        assert payload not in text, payload
    assert str(escape(payload)) in text, payload


def test_the_judge_catches_what_it_must():
    # The checker below is what the corpus tests trust: prove it fails on each kind of risk.
    assert script_risks("<p><script>alert(1)</script></p>") == ["<script> element"]
    assert script_risks('<a href="JavaScript:alert(1)">x</a>')
    assert script_risks('<a href=" java\tscript:alert(1)">x</a>')
    assert script_risks('<b onclick="x()">x</b>')
    assert script_risks('<div class="markdown"><p><font>x</font></p></div>')
    assert script_risks('<div class="markdown"><td style="color:red">x</td></div>')
    assert script_risks('<div class="markdown"><p>x</p></div><p>ok</p>') == []
    # The app's own script file in <head> passes; inline code, another source, or a
    # script outside <head> does not.
    assert script_risks('<head><script src="/static/js/desk.js" defer></script></head>') == []
    assert script_risks('<head><script src="/static/js/desk.js">alert(1)</script></head>')
    assert script_risks('<head><script src="https://evil.example/x.js"></script></head>')
    assert script_risks('<head><script src="/static/js/../x"></script></head>')
    assert script_risks('<body><script src="/static/js/desk.js"></script></body>')


def test_markdown_is_rendered_and_sanitised():
    html = str(render_markdown("**bold** [site](https://example.com) <b>raw</b>\n\n- item"))
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">site</a>' in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html  # raw HTML shows as typed, never as markup
    assert "<li>item</li>" in html
    assert "href" not in str(render_markdown("[x](javascript:alert(1))"))
    assert "<img" not in str(render_markdown("![pixel](https://evil.example/p.png)"))


def test_payloads_in_every_field_are_inert_on_every_page(agent_client, agent):
    author = UserFactory(full_name=PAYLOADS[0][:120])
    for number, payload in enumerate(PAYLOADS):
        title = payload[:200]
        tag = TagFactory(name=f"{number} {payload}"[:50], description=payload[:500])
        ticket = TicketFactory(title=title, description=payload, tags=[tag], creator=author,
                               assignee=author)  # fmt: skip
        add_comment(ticket, author=author, body=payload, is_internal=False)
        pages = {
            "ticket": agent_client.get(f"/tickets/{ticket.number}").text,
            "edit": agent_client.get(f"/tickets/{ticket.number}/edit").text,
            "list": agent_client.get("/tickets/", query_string={"q": payload[:200]}).text,
        }
        for name, text in pages.items():
            assert script_risks(text) == [], (name, payload)
            # Titles, the search box and the edit form's fields are plain text.
            _assert_escaped(text, payload[:200] if name == "list" else payload)
        if "{{" in payload or "{%" in payload:  # shown as typed in the Markdown too
            assert pages["ticket"].count(str(escape(payload))) >= 3, payload
    tags_page = agent_client.get("/tags/").text
    assert script_risks(tags_page) == []
    staff_names = agent_client.get("/tickets/").text
    assert PAYLOADS[0] not in staff_names
    assert script_risks(staff_names) == []
