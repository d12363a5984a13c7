"""The workspace in Chromium: axe-core, layout at 1280×800 and 390×844, keyboard, screenshots.

axe-core (npm, pinned by package-lock.json) runs on every page state visited, at both
widths, in the light and the dark theme: 0 violations of any impact. The CSP is bypassed
in these test contexts only, to inject axe. Full-page screenshots of the main pages at
both widths go to test-results/screenshots/ on every run.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from pathlib import Path
from typing import Any

import pytest

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.models import Comment, Tag, Ticket, TicketPriority, TicketStatus, User
from supportdesk.tickets.numbering import reserve_ticket_numbers
from tests.browser.conftest import RESULTS, wait_saved
from tests.conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = RESULTS / "screenshots"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def desk(live_server: Any) -> dict[str, Any]:
    """Thirty tickets with replies, notes and tags; return what the pages need."""
    word = secrets.token_hex(3)
    app = live_server.app
    with app.app_context(), acting_as("test"), unit_of_work():
        admin = db.session.query(User).filter_by(email=live_server.users["admin"]).one()
        tags = [Tag(name=f"{name}-{word}", colour=colour) for name, colour in
                (("billing", "#b42318"), ("vpn", "#1d4ed8"), ("printer", "#067647"),
                 ("vip", "#b54708"))]  # fmt: skip
        db.session.add_all(tags)
        requester = admin  # the creator of record
        from supportdesk.customers.models import Customer

        customer = Customer(email=f"ana-{word}@example.org", name="Ana Lima")
        db.session.add(customer)
        numbers = []
        for i, number in enumerate(reserve_ticket_numbers(db.session, 30)):
            ticket = Ticket(
                number=number, title=f"Printer on floor {i} jams when printing long reports "
                f"from the accounting system {word}", description="It stopped at 9.",
                status=[TicketStatus.OPEN, TicketStatus.IN_PROGRESS][i % 2],
                priority=list(TicketPriority)[i % 4], creator=requester, requester=customer,
                assignee=admin if i % 3 == 0 else None, tags=tags[: i % 5], updated_by=admin,
            )  # fmt: skip
            db.session.add(ticket)
            db.session.flush()
            db.session.add(Comment(ticket_id=ticket.id, author=admin, body="We are on it."))
            db.session.add(Comment(ticket_id=ticket.id, author=admin, body="Check the tray.",
                                   is_internal=True))  # fmt: skip
            numbers.append(number)
    return {"numbers": numbers, "word": word}


def _context(browser: Any, live_server: Any, viewport: dict[str, int], scheme: str = "light",
             role: str = "admin") -> Any:  # fmt: skip
    context = browser.new_context(viewport=viewport, color_scheme=scheme, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(live_server.url + "/login")
    page.fill("#email", live_server.users[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/tickets/$"))
    return context, page


def _pages(desk: dict[str, Any]) -> dict[str, str]:
    number = desk["numbers"][0]
    return {"list": "/tickets/", "list-filtered": "/tickets/?status=open&priority=high",
            "ticket": f"/tickets/{number}", "new-ticket": "/tickets/new",
            "reports": "/reports/", "audit": "/audit/", "tags": "/tags/",
            "customers": "/customers/", "macros": "/macros/", "staff": "/users/",
            "security": "/account/security", "tokens": "/account/tokens",
            "webhooks": "/settings/webhooks/", "edit": f"/tickets/{number}/edit"}  # fmt: skip


def _axe(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async () => {
             const r = await axe.run(document);
             return {passes: r.passes.length, violations: r.violations.map(v =>
               `${v.id} (${v.impact}): ${v.nodes.slice(0, 3)
               .map(n => n.target.join(" ")).join(" | ")}`)};
           }"""
    )
    assert found["passes"] >= 10  # axe ran its rules on this page
    return list(found["violations"])


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (make test runs npm ci)")
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_passes_axe_at_both_widths(browser, live_server, desk, scheme):
    problems = []
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context, page = _context(browser, live_server, viewport, scheme)
        try:
            for label, path in _pages(desk).items():
                page.goto(live_server.url + path)
                problems += [f"{label} {name} {scheme}: {v}" for v in _axe(page)]
                if scheme == "light" and label in ("list", "ticket", "new-ticket", "reports",
                                                   "audit"):  # fmt: skip
                    SHOTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(SHOTS / f"{label}-{name}.png"), full_page=True)
        finally:
            context.close()
    assert problems == [], "\n".join(problems)


def test_the_list_starts_high_and_no_page_scrolls_sideways_on_a_phone(browser, live_server,
                                                                       desk):  # fmt: skip
    context, page = _context(browser, live_server, DESKTOP)
    try:
        page.goto(live_server.url + "/tickets/")
        top = page.locator("table.tickets tbody tr").first.bounding_box()["y"]
        print(f"\nthe first ticket row starts at {top:.0f} px at 1280×800")  # for the notes
        assert top <= 200, f"the first ticket row starts at {top} px"
        # A checkbox and its label share a line (their boxes overlap vertically).
        page.goto(live_server.url + "/tickets/new")
        for check in page.locator(".field.check").all():
            box = check.locator("input").bounding_box()
            label = check.locator("label").bounding_box()
            assert box["y"] < label["y"] + label["height"]
            assert label["y"] < box["y"] + box["height"]
    finally:
        context.close()
    context, page = _context(browser, live_server, PHONE)
    try:
        wide = []
        for label, path in _pages(desk).items():
            page.goto(live_server.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wide.append(f"{label}: {width} px")
        assert wide == []
        page.goto(live_server.url + "/tickets/")
        assert page.locator("table.tickets thead").is_hidden()  # rows are cards
        # The views are a drawer: folded at first, over the list when opened, within the
        # screen, axe-clean; Escape closes it, and so does a tap beside it.
        assert page.locator("#sidebar .drawer").is_hidden()
        page.click("#sidebar > summary")
        drawer = page.locator("#sidebar .drawer")
        box = drawer.bounding_box()
        assert drawer.evaluate("d => getComputedStyle(d).position") == "fixed"
        assert box["x"] == 0
        assert box["width"] <= 320
        assert box["height"] >= 800
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert _axe(page) == []
        page.keyboard.press("Escape")
        assert drawer.is_hidden()
        page.click("#sidebar > summary")
        page.mouse.click(370, 600)  # beside the drawer: on its backdrop
        assert drawer.is_hidden()
        page.focus("#sidebar > summary")  # and by keyboard: Enter opens, Escape closes
        page.keyboard.press("Enter")
        assert drawer.is_visible()
        page.keyboard.press("Tab")  # into the drawer's first link
        assert page.evaluate("document.activeElement.closest('.drawer') !== null")
        page.keyboard.press("Escape")
        assert drawer.is_hidden()
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
        assert page.url.endswith("/tickets/")  # the tap did not open a ticket underneath
    finally:
        context.close()


def test_the_skip_link_reaches_the_first_ticket_in_three_tabs(browser, live_server, desk):
    context, page = _context(browser, live_server, DESKTOP, role="agent")
    try:
        page.goto(live_server.url + "/tickets/")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip-link"
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        first_row = page.evaluate(
            """() => document.activeElement.closest("tbody tr") ===
                     document.querySelector("table.tickets tbody tr")"""
        )
        assert first_row
        # Selecting a row with the keyboard shows the bulk bar (hidden until then).
        assert page.locator("#bulk-bar").is_hidden()
        page.keyboard.press("Space")
        assert page.locator("#bulk-bar").is_visible()
    finally:
        context.close()


def test_the_new_controls_work_from_the_keyboard(browser, live_server, desk):
    from playwright.sync_api import expect

    context, page = _context(browser, live_server, DESKTOP, role="agent")
    number = desk["numbers"][1]
    try:
        # The folded filters open with Enter on their summary.
        page.goto(live_server.url + "/tickets/")
        page.focus("#q")
        page.keyboard.press("Tab")  # the Search button
        page.keyboard.press("Tab")  # the Filters summary
        assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
        page.keyboard.press("Enter")
        assert page.locator("#filters").get_attribute("open") is not None
        # The reply box: n picks the note tab (yellow, its own button), Ctrl+Enter sends.
        page.goto(live_server.url + f"/tickets/{number}")
        page.keyboard.press("n")
        assert page.locator("#comment-form.note").count() == 1
        assert page.locator("#add-comment").inner_text() == "Add note"
        page.keyboard.type("Checked the tray from the keyboard")
        page.keyboard.press("Control+Enter")
        page.wait_for_url(re.compile(rf".*/tickets/{number}(#.*)?$"))
        assert "Internal note added" in page.locator(".flashes").inner_text()
        # The tag picker: type, Enter adds the tag; Save with the keyboard.
        word = desk["word"]
        page.focus("#quick-tags-find")
        page.keyboard.type(f"vip-{word}"[:6])
        page.keyboard.press("Enter")
        assert page.locator(".tag-tokens button", has_text=f"vip-{word}").count() == 1
        wait_saved(page)  # the tag saved itself
        page.focus("#quick-save")
        page.keyboard.press("Enter")  # Save, in place too: nothing left to save
        expect(page.locator("#quick-status")).to_have_text("Nothing to save.")
        assert page.locator(".facts .chip", has_text=f"vip-{word}").count() == 1
        # Delete, then Undo from the message, all with keys.
        page.focus("button.danger:has-text('Delete')")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(r".*/tickets/$"))
        page.focus("form.undo button")
        page.keyboard.press("Enter")
        page.wait_for_url(re.compile(rf".*/tickets/{number}$"))
        assert "restored" in page.locator(".flashes").inner_text()
    finally:
        context.close()


def test_the_side_panel_saves_as_it_changes_and_keeps_a_half_written_reply(browser, live_server,
                                                                          desk):  # fmt: skip
    from playwright.sync_api import expect

    context, page = _context(browser, live_server, DESKTOP, role="agent")
    number = desk["numbers"][2]
    with live_server.app.app_context(), acting_as("test"), unit_of_work():
        # Opened by email: its facts list comes first on the page (the side panel's
        # facts must still be the ones refreshed).
        ticket = db.session.query(Ticket).filter_by(number=number).one()
        ticket.via_email = {"from": "Ana Lima <ana@example.org>", "to": "help@example.org"}
    try:
        page.goto(live_server.url + f"/tickets/{number}")
        page.fill("#body", "Half-written: the tray on floor 2 is")
        before = page.locator("#quick-update input[name=version]").input_value()
        page.select_option("#quick-priority", "urgent")
        wait_saved(page)
        assert page.locator(".facts-strip").inner_text().count("Urgent") == 1
        assert "set priority" in page.locator("#timeline").inner_text()  # the history, too
        after = page.locator("#quick-update input[name=version]").input_value()
        assert int(after) == int(before) + 1
        assert page.locator("#comment-form input[name=version]").input_value() == after
        assert page.input_value("#body") == "Half-written: the tray on floor 2 is"
        # A second change saves over the first (the version moved with it): no conflict.
        page.select_option("#assignee", label="Lina Live")
        wait_saved(page)
        # The due time saves once left; a time in the past is refused and said so.
        page.fill("#quick-due", "2020-01-01T10:00")
        page.focus("#quick-priority")
        expect(page.locator("#quick-status")).to_have_class(re.compile(r"\berror\b"))
        assert "must be in the future" in page.inner_text("#quick-status")
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        page.fill("#quick-due", f"{later:%Y-%m-%d}T05:06")
        page.focus("#quick-priority")
        wait_saved(page)
        assert "set by hand" in page.inner_text(".ticket-side > dl.facts")
        assert "help@example.org" in page.locator(".email-facts dl").text_content()
        # And the reply, still there, sends with the ticket's current version.
        page.click("#add-comment")
        page.wait_for_url(re.compile(rf".*/tickets/{number}(#.*)?$"))
        assert "Reply added" in page.locator(".flashes").inner_text()
        # Signed out meanwhile: the panel says it did not save (the login page came back).
        context.clear_cookies()
        page.select_option("#quick-priority", "low")
        expect(page.locator("#quick-status")).to_have_class(re.compile(r"\berror\b"))
        assert page.inner_text("#quick-status").startswith("Not saved")
        with live_server.app.app_context():
            ticket = db.session.query(Ticket).filter_by(number=number).one()
            assert (ticket.priority.value, ticket.due_is_manual) == ("urgent", True)
            assert ticket.assignee_id is not None
    finally:
        context.close()


def test_a_panel_save_over_someone_elses_says_so_and_save_opens_the_merge(browser, live_server,
                                                                          desk):  # fmt: skip
    from playwright.sync_api import expect

    from supportdesk.tickets import service
    from supportdesk.tickets.rules import TicketEdit

    context, page = _context(browser, live_server, DESKTOP, role="agent")
    number = desk["numbers"][4]
    try:
        page.goto(live_server.url + f"/tickets/{number}")
        page.fill("#body", "Kept while the panel fails")
        with live_server.app.app_context(), acting_as("test"), unit_of_work():
            ticket = db.session.query(Ticket).filter_by(number=number).one()
            other = db.session.query(User).filter_by(email=live_server.users["agent2"]).one()
            service.update_ticket(ticket, TicketEdit(title="Renamed by Omar"), actor=other)
        page.select_option("#quick-priority", "urgent")
        status = page.locator("#quick-status")
        expect(status).to_have_class(re.compile(r"\berror\b"))
        assert "Someone else saved this ticket" in status.inner_text()
        assert "merge" in status.inner_text()
        assert page.input_value("#body") == "Kept while the panel fails"  # nothing reloaded
        page.click("#quick-save")  # now the usual post: the merge page, my change in it
        expect(page.locator("#conflict")).to_be_visible()
        assert "Renamed by Omar" in page.content()
        assert page.locator("#priority").input_value() == "urgent"
    finally:
        context.close()
