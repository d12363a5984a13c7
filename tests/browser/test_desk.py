"""The ticket desk in a real browser: create, find, comment, resolve, conflict."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import wait_saved

pytestmark = pytest.mark.browser


def _unique(word: str) -> str:
    return f"{word} {uuid.uuid4().hex[:8]}"


def _create_tag(page, base, name):
    page.goto(base + "/tags/new")
    page.fill("#name", name)
    page.click("main button:has-text('Save')")
    page.wait_for_url(re.compile(r".*/tags/$"))


def test_create_find_comment_resolve_and_reopen(new_page, login, live_server):
    base = live_server.url
    admin = login(new_page(), "admin")
    tag = _unique("printer")
    _create_tag(admin, base, tag)

    page = login(new_page())
    title = _unique("Toner smeared")
    page.click("text=New ticket")
    page.fill("#requester", "browser.customer@example.org")
    page.fill("#title", title)
    page.fill("#description", "Every page has a grey stripe.")
    page.select_option("#priority", "high")
    page.select_option("#tags", label=tag)
    page.click("button:has-text('Create ticket')")
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    number = page.url.rsplit("/", 1)[1]
    assert page.locator("h1").inner_text().endswith(title)
    assert page.locator(f".chip:has-text('{tag}')").count() == 1

    # Find it with a filter.
    page.goto(base + "/tickets/")
    page.fill("#q", title)
    page.click("#filters > summary")  # the other filters are folded away until asked for
    page.check("input[name=priority][value=high]")
    page.click("button:has-text('Filter')")
    rows = page.locator("table.tickets tbody tr")
    assert rows.count() == 1
    assert title in rows.first.inner_text()
    assert "q=" in page.url

    # Comment: a public reply and an internal note.
    rows.first.locator("td.title a").click()
    page.fill("#body", "We are sending a technician.")
    page.click("#add-comment")
    page.locator(".comment").first.wait_for()  # the click only starts the navigation
    page.fill("#body", "Customer is on the premium plan.")
    page.check("#is_internal")
    page.click("#add-comment")
    page.locator(".comment.internal").wait_for()
    assert page.locator(".comment").count() == 2
    assert page.locator(".comment.internal").count() == 1
    assert "premium plan" in page.locator(".comment.internal").inner_text()

    # Resolve, then reopen: the side panel saves as it changes, in place.
    page.select_option("#quick-update #status", "resolved")
    wait_saved(page)
    assert "Resolved" in page.locator(".facts").inner_text()
    page.select_option("#quick-update #status", "open")
    wait_saved(page)
    facts = page.locator(".facts").inner_text()
    assert "Open" in facts
    assert "Resolved\n" not in facts
    assert re.search(rf"/tickets/{number}(#c\d+)?$", page.url)  # no page load


def test_two_tab_conflict_keeps_both_agents_intentions(new_page, login, live_server):
    base = live_server.url
    a = login(new_page(), "agent")
    b = login(new_page(), "agent2")
    a.click("text=New ticket")
    a.fill("#requester", "browser.customer@example.org")
    a.fill("#title", _unique("VPN drops"))
    a.fill("#description", "Drops every hour.")
    a.click("button:has-text('Create ticket')")
    a.wait_for_url(re.compile(r".*/tickets/\d+$"))
    edit_url = a.url + "/edit"

    a.goto(edit_url)
    b.goto(edit_url)
    a.select_option("#priority", "urgent")
    a.click("button:has-text('Save')")
    a.wait_for_url(re.compile(r".*/tickets/\d+$"))

    b.fill("#description", "Drops every hour; logs attached by Omar.")
    b.click("button:has-text('Save')")
    assert b.locator("#conflict").is_visible()
    assert "Lina Live saved it at" in b.locator("#conflict").inner_text()
    # B's typing survived, and A's priority is already in B's form.
    assert b.input_value("#description") == "Drops every hour; logs attached by Omar."
    assert b.input_value("#priority") == "urgent"
    b.click("button:has-text('Save')")
    b.wait_for_url(re.compile(r".*/tickets/\d+$"))
    text = b.locator("body").inner_text()
    assert "logs attached by Omar" in text
    assert "Urgent" in b.locator(".facts").inner_text()
    assert base in b.url
