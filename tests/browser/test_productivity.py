"""Agent productivity in a real browser: macros, merge, take next, the keyboard."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _word() -> str:
    return uuid.uuid4().hex[:8]


def _new_ticket(page, base, title, *, priority="medium", tag=None):
    page.goto(base + "/tickets/new")
    page.fill("#requester", "Browser Customer <browser@example.org>")
    page.fill("#title", title)
    page.fill("#description", "Created by a browser test.")
    page.select_option("#priority", priority)
    if tag:
        page.select_option("#tags", label=tag)
    page.click("button:has-text('Create ticket')")
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


def _new_tag(page, base, name):
    page.goto(base + "/tags/new")
    page.fill("#name", name)
    page.click("main button:has-text('Save')")
    page.wait_for_url(re.compile(r".*/tags/$"))


def _new_macro(page, base, name, body, *, status="", tag=None):
    page.goto(base + "/macros/new")
    page.fill("#name", name)
    page.fill("#body", body)
    if status:
        page.select_option("#set_status", status)
    if tag:
        page.select_option("#add_tags", label=tag)
    page.click("#macro-form button:has-text('Save')")
    page.wait_for_url(re.compile(r".*/macros/$"))


def test_apply_a_macro_from_the_reply_box(new_page, login, live_server):
    base, word = live_server.url, _word()
    admin = login(new_page(), "admin")
    _new_tag(admin, base, f"refund-{word}")
    # A bad placeholder is refused at save time and the text stays in the form.
    admin.goto(base + "/macros/new")
    admin.fill("#name", f"Refund {word}")
    admin.fill("#body", "Dear {{ customer_phone }}")
    admin.click("#macro-form button:has-text('Save')")
    assert "is not a placeholder" in admin.locator("#body-errors").inner_text()
    assert admin.input_value("#body") == "Dear {{ customer_phone }}"
    _new_macro(admin, base, f"Refund {word}",
               "Hi, {{ agent.first_name }} here: {{ ticket.reference }} is refunded.",
               status="resolved", tag=f"refund-{word}")  # fmt: skip

    page = login(new_page())
    number = _new_ticket(page, base, f"Refund please {word}")
    page.fill("#macro-filter", f"refund {word}")  # type to filter
    assert page.locator("#macro option:not([hidden])").count() == 2  # "— none —" + it
    page.press("#macro-filter", "Enter")
    assert page.input_value("#body") == f"Hi, Lina here: SD-{number} is refunded."
    page.fill("#body", page.input_value("#body") + " Sorry for the wait.")
    page.click("#add-comment")
    page.wait_for_url(re.compile(rf".*/tickets/{number}(#c\d+)?$"))
    assert f"Applied “Refund {word}”" in page.locator(".flashes").inner_text()
    assert "Resolved" in page.locator(".ticket-side .facts").inner_text()
    assert f"refund-{word}" in page.locator(".ticket-side .facts").inner_text()
    assert "is refunded. Sorry for the wait." in page.locator(".comment").last.inner_text()


def test_macro_insert_works_without_javascript(browser, login, live_server):
    base, word = live_server.url, _word()
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(base + "/login")
        page.fill("#email", live_server.users["admin"])
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        _new_macro(page, base, f"Canned {word}", "Thanks, {{ agent.full_name }}")
        number = _new_ticket(page, base, f"No script {word}")
        page.select_option("#macro", label=f"Canned {word}")
        page.fill("#body", "Got it.")
        page.click("button:has-text('Insert its text')")
        assert page.input_value("#body") == "Got it.\n\nThanks, Ada Admin"
        page.click("#add-comment")
        page.wait_for_url(re.compile(rf".*/tickets/{number}(#c\d+)?$"))
        assert "Thanks, Ada Admin" in page.locator(".comment").last.inner_text()
    finally:
        context.close()


def test_merge_two_tickets(new_page, login, live_server):
    base, word = live_server.url, _word()
    page = login(new_page())
    keep = _new_ticket(page, base, f"Keep {word}")
    page.fill("#body", "The first report.")
    page.click("#add-comment")
    dupe = _new_ticket(page, base, f"Duplicate {word}")
    page.fill("#body", "The same problem again.")
    page.click("#add-comment")
    page.fill("#merge-into", f"SD-{keep}")
    page.click("#merge button:has-text('Merge')")
    page.wait_for_url(re.compile(rf".*/tickets/{keep}$"))
    assert f"SD-{dupe} was merged into SD-{keep}." in page.locator(".flashes").inner_text()
    thread = page.locator(".comment").all_inner_texts()
    assert any("The first report." in c for c in thread)
    assert any("The same problem again." in c for c in thread)
    page.goto(f"{base}/tickets/{dupe}")  # the duplicate's address leads to the ticket kept
    page.wait_for_url(re.compile(rf".*/tickets/{keep}$"))
    # Refused: into itself, with the reason shown.
    page.fill("#merge-into", str(keep))
    page.click("#merge button:has-text('Merge')")
    assert "Not merged" in page.locator(".flashes").inner_text()


def test_take_next_gives_the_most_urgent_waiting_ticket(new_page, login, live_server):
    base, word = live_server.url, _word()
    admin = login(new_page(), "admin")
    _new_tag(admin, base, f"queue-{word}")
    _new_ticket(admin, base, f"Low {word}", priority="low", tag=f"queue-{word}")
    urgent = _new_ticket(admin, base, f"Urgent {word}", priority="urgent", tag=f"queue-{word}")

    page = login(new_page())
    page.goto(base + "/tickets/")
    page.click("#filters > summary")
    page.select_option("#tag", label=f"queue-{word}")
    page.click("button:has-text('Filter')")
    page.click("#take-next")
    page.wait_for_url(re.compile(rf".*/tickets/{urgent}$"))
    assert f"SD-{urgent} is yours now." in page.locator(".flashes").inner_text()
    assert "Lina Live" in page.locator(".ticket-side .facts").inner_text()


def test_move_through_the_list_with_the_keyboard(new_page, login, live_server):
    base, word = live_server.url, _word()
    page = login(new_page())
    numbers = [_new_ticket(page, base, f"Keys {word} {i}") for i in range(3)]
    page.goto(f"{base}/tickets/?q={word}&sort=number&dir=asc")
    rows = page.locator("table.tickets tbody tr")
    assert rows.count() == 3
    page.locator("h1").click()  # focus on the page, not a field
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert "kb-current" in rows.nth(1).get_attribute("class")
    page.keyboard.press("k")
    assert "kb-current" in rows.nth(0).get_attribute("class")
    assert "kb-current" not in (rows.nth(1).get_attribute("class") or "")
    page.keyboard.press("x")
    assert rows.nth(0).locator("input[name=ids]").is_checked()
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.press("Escape")  # leaves the search box
    page.keyboard.press("a")  # assign the selection (the first row) to me
    # The list's URL matches before and after the POST: wait for the answer's message
    # (waiting for the URL returned at once, and the old page's message was read).
    page.locator(".flashes", has_text="1 ticket updated.").wait_for()
    assert "Lina Live" in page.locator("table.tickets tbody tr").nth(0).inner_text()
    page.locator("h1").click()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("o")
    page.wait_for_url(re.compile(rf".*/tickets/{numbers[1]}$"))
    # On the ticket page: n writes an internal note, r a reply, s goes to the status.
    page.keyboard.press("n")
    assert page.evaluate("document.activeElement.id") == "body"
    assert page.is_checked("#is_internal")
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    assert not page.is_checked("#is_internal")
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    assert page.evaluate("document.activeElement.name") == "status"
