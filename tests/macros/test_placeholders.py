"""Placeholders: what an admin may write, and that nothing else gets through."""

import pytest

from supportdesk.macros import placeholders
from supportdesk.macros.placeholders import AgentFields, TicketFields, problems, render

CONTEXT = {
    "ticket": TicketFields(7, "SD-7", "Login <fails>", "Open", "Urgent"),
    "agent": AgentFields("Ada Lovelace", "Ada"),
}


def test_the_documented_placeholders_render():
    text = (
        "Hi, {{ agent.first_name }} here about {{ ticket.reference }} (#{{ ticket.number }}): "
        "{{ ticket.title }} is {{ ticket.status | lower }}, priority {{ ticket.priority }}. "
        "{{ agent.full_name | upper }}"
    )
    assert problems(text) == []
    assert render(text, CONTEXT) == (
        "Hi, Ada here about SD-7 (#7): Login <fails> is open, priority Urgent. ADA LOVELACE"
    )


def test_plain_text_and_an_empty_text_are_fine():
    assert problems("") == []
    assert render("", CONTEXT) == ""
    assert problems("Thanks! {curly} 100% done") == []
    assert render("Line one\n\nLine two\n", CONTEXT) == "Line one\n\nLine two\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ customer_phone }}", "{{ customer_phone }} is not a placeholder. Known:"),
        ("{{ ticket.secret }}", "{{ ticket.secret }} is not a placeholder (known: ticket.number"),
        ("{{ nobody }}", "{{ nobody }} is not a placeholder. Known: {{ ticket.number }}"),
        ("{{ ticket }}", "Say which part of ticket, e.g. {{ ticket.number }}"),
        ("{{ ticket.title", "Line 1:"),
        ("{% if ticket.title %}x{% endif %}", "not {% … %} blocks"),
        ("{% for x in ticket %}{% endfor %}", "not {% … %} blocks"),
        ("{{ ticket['title'] }}", "no calculations, indexes or calls"),
        ("{{ ticket.title.__class__ }}", "no calculations, indexes or calls"),
        ("{{ ticket.number + 1 }}", "no calculations, indexes or calls"),
        ("{{ range(10) }}", "no calculations, indexes or calls"),
        ("{{ ticket.title | attr('x') }}", "The filter “attr” is not available"),
        ("{{ ticket.title | default(ticket.number) }}", "takes only plain values"),
        ("{{ ticket.title | default(x=1) }}", "takes only plain values"),
        ("{{ lipsum() }}", "no calculations, indexes or calls"),
        ("x" * (placeholders.MAX_LENGTH + 1), "at most 20,000 characters"),
    ],
)
def test_anything_else_is_refused_at_save_time_with_a_message(text, expected):
    found = problems(text)
    assert found, text
    assert expected in " ".join(found)


def test_a_text_that_fails_at_use_time_is_a_message_not_a_crash():
    # Only reachable for a text saved around the form (the database edited by hand).
    with pytest.raises(placeholders.PlaceholderError, match="could not be filled in"):
        render("{{ ticket.missing }}", CONTEXT)
    with pytest.raises(placeholders.PlaceholderError):
        render("{{ ticket.title.__class__.__mro__ }}", CONTEXT)  # the sandbox refuses


def test_the_help_lists_every_placeholder():
    codes = [code for code, _ in placeholders.help_items()]
    assert "{{ ticket.title }}" in codes
    assert "{{ agent.full_name }}" in codes
    assert all(problems(code) == [] for code in codes)
