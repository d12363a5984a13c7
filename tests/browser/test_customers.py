"""Customers and email in a real browser: a new customer by email, a reply that is sent."""

from __future__ import annotations

import re
import uuid

import pytest

from supportdesk import worker
from supportdesk.audit.context import acting_as

pytestmark = pytest.mark.browser


def test_a_ticket_for_a_new_customer_is_answered_by_email(live_server, new_page, login,
                                                          smtp_sink, monkeypatch):  # fmt: skip
    word = uuid.uuid4().hex[:8]
    email = f"new.{word}@example.org"
    page = login(new_page())
    page.goto(live_server.url + "/tickets/new")
    page.fill("#requester", f"Nora {word} <{email}>")
    page.fill("#title", f"Cannot print {word}")
    page.fill("#description", "The printer says no.")
    page.click("button:has-text('Create ticket')")
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    assert page.locator(".requester").get_by_text(f"Nora {word}").is_visible()
    page.fill("#body", "Please restart it and tell us.")
    page.click("#add-comment")
    page.wait_for_url(re.compile(r".*/tickets/\d+#c\d+$"))
    assert page.locator(".delivery").first.inner_text().strip().endswith("queued")

    app = live_server.app
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_sink.url)
    with app.app_context(), acting_as("test"):
        assert worker.run_once(name="browser-test")["sent"] == 1
    [received] = smtp_sink.received
    assert received.recipients == [email]
    assert received.message["Subject"].endswith(f"Cannot print {word}")

    page.reload()
    assert re.search(rf"{re.escape(email)}:\s*sent", page.locator(".delivery").first.inner_text())
    page.locator(".requester a").first.click()
    page.wait_for_url(re.compile(r".*/customers/\d+$"))
    assert page.get_by_text(f"Cannot print {word}").is_visible()

    # The form suggests the customer as soon as two letters of their name are typed.
    page.goto(live_server.url + "/tickets/new")
    page.fill("#requester", f"new.{word}"[:10])
    page.locator("#requester").press("End")
    option = page.locator(f"#customer-options option[value*='{email}']")
    option.wait_for(state="attached")
    assert option.count() == 1
