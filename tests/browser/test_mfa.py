"""Two-step login in a real browser: enrolment by QR code, a code, a recovery code, and a
lost phone reset by an admin."""

from __future__ import annotations

import re
import time
import uuid

import pyotp
import pytest

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def _password(page, url, email):
    page.goto(url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def _logout(page):
    page.click("header form button:has-text('Log out')")
    page.wait_for_url(re.compile(r".*/login$"))


def test_enrol_log_in_with_a_code_then_a_recovery_code_then_an_admin_reset(
    live_server, new_page, login, monkeypatch
):
    url, app = live_server.url, live_server.app
    email = f"mfa.{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user(email, full_name="Mia Factor", password=PASSWORD)
    monkeypatch.setitem(app.config, "MFA_REQUIRED", "all")

    # The password alone leads to the set-up page, and nowhere else.
    page = new_page()
    _password(page, url, email)
    page.wait_for_url(re.compile(r".*/account/security$"))
    page.goto(url + "/tickets/")
    page.wait_for_url(re.compile(r".*/account/security$"))
    qr = page.locator("img.qr")
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")  # drawn under the CSP
    secret = page.locator("code.mfa-secret").inner_text().replace(" ", "")
    page.fill("#code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click("button:has-text('Turn on two-step login')")
    assert page.get_by_text("does not match").is_visible()
    assert page.locator("code.mfa-secret").inner_text().replace(" ", "") == secret
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button:has-text('Turn on two-step login')")
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.click("a:has-text('I have saved them')")
    page.wait_for_url(re.compile(r".*/tickets/$"))
    _logout(page)

    # A code from the app (the next step's: the current one was used for the set-up).
    _password(page, url, email)
    page.wait_for_url(re.compile(r".*/login/code$"))
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(r".*/tickets/$"))
    _logout(page)

    # The phone is lost: a recovery code, once.
    _password(page, url, email)
    page.wait_for_url(re.compile(r".*/login/code$"))
    page.fill("#code", codes[0])
    page.click("button:has-text('Log in')")
    page.wait_for_url(re.compile(r".*/tickets/$"))
    assert page.get_by_text("You used a recovery code; 9 left.").is_visible()
    _logout(page)
    _password(page, url, email)
    page.fill("#code", codes[0])
    page.click("button:has-text('Log in')")
    assert page.get_by_text("That code is wrong, expired or used already.").is_visible()

    # An admin resets it; the next password login leads to a new set-up.
    monkeypatch.setitem(app.config, "MFA_REQUIRED", "none")
    admin = login(new_page(), "admin")
    admin.goto(url + "/users/")
    row = admin.locator("tr", has_text=email)
    row.locator("button:has-text('Reset two-step login')").click()
    assert admin.get_by_text("Mia Factor: two-step login reset").is_visible()
    monkeypatch.setitem(app.config, "MFA_REQUIRED", "all")
    fresh = new_page()
    _password(fresh, url, email)
    fresh.wait_for_url(re.compile(r".*/account/security$"))
    assert fresh.locator("img.qr").is_visible()
    assert fresh.locator("code.mfa-secret").inner_text().replace(" ", "") != secret


def test_a_deactivated_account_is_logged_out_of_its_open_browser(live_server, new_page, login):
    url, app = live_server.url, live_server.app
    email = f"leaver.{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user(email, full_name="Leo Leaver", password=PASSWORD)
    page = new_page()
    _password(page, url, email)
    page.wait_for_url(re.compile(r".*/tickets/$"))

    admin = login(new_page(), "admin")
    admin.goto(url + "/users/")
    admin.locator("tr", has_text=email).locator("button:has-text('Deactivate')").click()
    assert admin.get_by_text("Leo Leaver: deactivated, logged out everywhere").is_visible()
    assert admin.locator("tr", has_text=email).get_by_text("Disabled").is_visible()

    page.reload()
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    _password(page, url, email)
    assert page.get_by_text("Email or password is wrong, or the account is disabled.").is_visible()

    admin.locator("tr", has_text=email).locator("button:has-text('Reactivate')").click()
    _password(page, url, email)
    page.wait_for_url(re.compile(r".*/tickets/$"))
