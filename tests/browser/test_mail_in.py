"""Mail in, in a real browser: a customer's email on the ticket page, parked mail for admins."""

from __future__ import annotations

import re
import uuid

import pytest

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.mail import inbound
from tests.mail.inbound_helpers import message

pytestmark = pytest.mark.browser


def _receive(live_server, raw: bytes) -> inbound.Received:
    with live_server.app.app_context(), acting_as("cli:test"), unit_of_work():
        return inbound.receive(raw, "browser-test")


def test_an_emailed_ticket_and_reply_show_their_facts_and_quote(live_server, new_page, login):
    word = uuid.uuid4().hex[:8]
    sender = f"kim.{word}@example.org"
    first = _receive(live_server, message(sender=f"Kim {word} <{sender}>", cc="ben@example.org",
                                          subject=f"Scanner {word} jams"))  # fmt: skip
    _receive(live_server, message(
        sender=sender, subject=f"Re: [SD-{first.ticket_number}] Scanner {word} jams",
        body="It jams again.\n\nOn Monday, Support wrote:\n> Clean the rollers.",
    ))  # fmt: skip
    page = login(new_page())
    page.goto(f"{live_server.url}/tickets/{first.ticket_number}")
    comment = page.locator("article.comment").last
    assert comment.locator("strong").inner_text() == f"Kim {word}"
    assert comment.get_by_text("It jams again.").is_visible()
    assert not comment.get_by_text("Clean the rollers.").is_visible()  # folded away
    comment.get_by_text("Show quoted text").click()
    assert comment.get_by_text("Clean the rollers.").is_visible()
    facts = page.locator("details.email-facts").first  # the ticket's own message
    facts.locator("summary").click()
    assert facts.get_by_text(f"Kim {word} <{sender}>").is_visible()
    assert facts.get_by_text("ben@example.org").is_visible()
    link = facts.get_by_role("link", name="Original message (.eml)")
    assert link.get_attribute("download") is not None
    with page.expect_download() as download:
        link.click()
    assert re.fullmatch(r"original-\d+\.eml", download.value.suggested_filename)


def test_an_admin_makes_a_ticket_of_a_parked_message(live_server, new_page, login):
    word = uuid.uuid4().hex[:8]
    parked = _receive(live_server, message(subject=f"Out of office {word}",
                                           headers={"Auto-Submitted": "auto-replied"}))  # fmt: skip
    assert parked.label == "parked"
    page = login(new_page(), "admin")
    page.get_by_role("link", name="Parked mail").click()
    row = page.locator("tr", has_text=f"Out of office {word}")
    assert row.get_by_text("automatic reply").is_visible()
    row.get_by_role("button", name="Make a ticket of it").click()
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    assert page.get_by_role("heading", name=f"Out of office {word}").is_visible()
    assert page.get_by_text("was made from the parked message").is_visible()
