"""Bulk actions, attachments, trash and restore in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def _new_ticket(page, title):
    page.click("text=New ticket")
    page.fill("#requester", "browser.customer@example.org")
    page.fill("#title", title)
    page.fill("#description", "Created by a browser test.")
    page.click("button:has-text('Create ticket')")
    page.wait_for_url(re.compile(r".*/tickets/\d+$"))
    return page.url


def test_bulk_assign_from_the_list(new_page, login, live_server):
    page = login(new_page())
    word = uuid.uuid4().hex[:8]
    for i in range(3):
        page.goto(live_server.url + "/tickets/")
        _new_ticket(page, f"Bulk {word} {i}")
    page.goto(f"{live_server.url}/tickets/?q={word}")
    boxes = page.locator("input[name=ids]")
    assert boxes.count() == 3
    boxes.nth(0).check()
    boxes.nth(2).focus()
    page.keyboard.press("Space")  # keyboard reachable
    page.select_option("#bulk-action", "assign")
    page.select_option("#bulk-value-person", "me")
    page.click("#bulk-form button:has-text('Apply')")
    assert "2 tickets updated." in page.locator(".flashes").inner_text()
    assert f"q={word}" in page.url
    assert page.locator("td:has-text('Lina Live')").count() == 2


def test_attach_a_file_to_a_comment_and_download_it(new_page, login, live_server, tmp_path):
    page = login(new_page())
    _new_ticket(page, f"Screenshot {uuid.uuid4().hex[:8]}")
    shot = tmp_path / "screen.png"
    shot.write_bytes(PNG)
    page.fill("#body", "Here is what I see.")
    page.set_input_files("#attachments", str(shot))
    page.click("#add-comment")
    link = page.locator(".comment a:has-text('screen.png')")
    link.wait_for(state="visible")  # the click only waits for the navigation to start
    assert link.count() == 1
    response = page.request.get(live_server.url + link.get_attribute("href"))
    assert response.status == 200
    assert response.body() == PNG
    assert response.headers["x-content-type-options"] == "nosniff"


def test_delete_and_restore(new_page, login, live_server):
    agent = login(new_page())
    title = f"Trash me {uuid.uuid4().hex[:8]}"
    url = _new_ticket(agent, title)
    agent.click("button:has-text('Delete')")
    agent.wait_for_url(re.compile(r".*/tickets/$"))
    assert "is in the trash" in agent.locator(".flashes").inner_text()
    assert agent.locator(f"text={title}").count() == 0

    admin = login(new_page(), "admin")
    admin.goto(live_server.url + "/tickets/trash")
    row = admin.locator("tr", has_text=title)
    assert "Lina Live" in row.inner_text()
    row.locator("button:has-text('Restore')").click()
    admin.wait_for_url(url)
    assert "restored" in admin.locator(".flashes").inner_text()
    agent.goto(live_server.url + "/tickets/")
    assert agent.locator(f"text={title}").count() == 1
