"""In a real browser, pages full of XSS payloads run no script and open no dialog."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.models import User
from supportdesk.tags.service import create_tag
from supportdesk.tickets.service import add_comment, create_ticket
from tests.factories import CustomerFactory
from tests.test_xss import PAYLOADS

pytestmark = pytest.mark.browser


def test_no_payload_runs_in_chromium(new_page, login, live_server):
    marker = uuid.uuid4().hex[:8]
    with live_server.app.app_context():
        with acting_as("test"), unit_of_work():
            author = db.session.scalar(
                sa.select(User).where(User.email == live_server.users["agent"])
            )
            tags = [create_tag(f"{marker}{i}"[:50], description=p[:500])
                    for i, p in enumerate(PAYLOADS[:5])]  # fmt: skip
            ticket = create_ticket(
                requester=CustomerFactory(),
                title=f"{marker} {PAYLOADS[1]}"[:200],
                description="\n".join(PAYLOADS),
                creator=author,
                tags=tags,
            )
            for payload in PAYLOADS:
                add_comment(ticket, author=author, body=payload, is_internal=False)
        number = ticket.number
    page = login(new_page())
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in (f"/tickets/{number}", f"/tickets/?q={marker}", "/tags/",
                 f"/tickets/{number}/edit"):  # fmt: skip
        page.goto(live_server.url + path)
        page.wait_for_load_state("load")
        assert page.evaluate("typeof window.__xss") == "undefined", path
    assert dialogs == []
    page.goto(live_server.url + f"/tickets/{number}")
    assert "<script>alert(1)</script>" in page.locator(".description").inner_text()
