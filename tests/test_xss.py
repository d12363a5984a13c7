"""A corpus of XSS payloads in every user-editable field is rendered inert (escaped)."""

from pathlib import Path

from markupsafe import escape

from supportdesk.tickets.service import add_comment
from tests.factories import TagFactory, TicketFactory, UserFactory

PAYLOADS = [
    line for line in (Path(__file__).parent / "xss_payloads.txt").read_text().splitlines()
    if line.strip()
]  # fmt: skip


def test_the_corpus_has_at_least_50_payloads():
    assert len(PAYLOADS) >= 50


def _assert_inert(text, payload):
    # What reaches the page is the payload's escaped text: never a tag it opens, and a
    # template expression shows as typed (it was not evaluated).
    if any(ch in payload for ch in "<>\"'"):  # ("&lt;…" may be another payload's escaping)
        assert payload not in text, payload
    assert str(escape(payload)) in text, payload


def test_payloads_in_every_field_are_escaped_on_every_page(agent_client, agent):
    author = UserFactory(full_name=PAYLOADS[0][:120])
    for number, payload in enumerate(PAYLOADS):
        title = payload[:200]
        tag = TagFactory(name=f"{number} {payload}"[:50], description=payload[:500])
        ticket = TicketFactory(title=title, description=payload, tags=[tag], creator=author,
                               assignee=author)  # fmt: skip
        add_comment(ticket, author=author, body=payload, is_internal=False)
        pages = {
            "ticket": agent_client.get(f"/tickets/{ticket.number}").text,
            "list": agent_client.get("/tickets/", query_string={"q": payload[:200]}).text,
        }
        for name, text in pages.items():
            assert "<script>alert(1)</script>" not in text, (name, payload)
            _assert_inert(text, payload[:200] if name == "list" else payload)
    tags_page = agent_client.get("/tags/").text
    assert "<svg onload=alert(1)>" not in tags_page
    staff_names = agent_client.get("/tickets/").text
    assert PAYLOADS[0] not in staff_names
