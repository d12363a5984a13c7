"""Two app hosts on one PostgreSQL and one Redis (#21, past one machine): a session from
one works on the other, a stale save across hosts is a conflict, the login limit is one
counter, and a file uploaded on one downloads from the other (attachments in the
database: the hosts share no folder)."""

from __future__ import annotations

import re
import uuid

import pytest
import redis

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD
from tests.factories import TicketFactory
from tests.gunicorn_server import gunicorn
from tests.http import Browserless, hidden

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(autouse=True)
def _requirements(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several hosts share a PostgreSQL primary (SQLite is one machine's)")
    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")


def _on(host: str, other: Browserless) -> Browserless:
    """The same browser (its cookies) talking to another host."""
    browser = Browserless(host)
    browser.opener = other.opener
    return browser


def test_two_hosts_share_sessions_conflicts_limits_and_files(desk, tmp_path):
    app, url = desk
    email = f"two-hosts-{uuid.uuid4().hex[:8]}@example.org"
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user(email, full_name="Hana Hosts", password=PASSWORD)
        ticket = TicketFactory()
        number = ticket.number
    common = {"SUPPORTDESK_DATABASE_URL": url,
              "SUPPORTDESK_SECRET_KEY": "two-hosts-" + "x" * 40,
              "SUPPORTDESK_ATTACHMENT_STORAGE": "database",
              "SUPPORTDESK_RATELIMIT_STORAGE_URL": REDIS_URL,
              "SUPPORTDESK_LOGIN_ACCOUNT_RATE_LIMIT": "3 per minute",
              "SUPPORTDESK_HTTPS": "0"}  # fmt: skip
    with (
        gunicorn(dict(common, SUPPORTDESK_INSTANCE_DIR=str(tmp_path / "a")), workers=1,
                 log=tmp_path / "a.log") as host_a,
        gunicorn(dict(common, SUPPORTDESK_INSTANCE_DIR=str(tmp_path / "b")), workers=1,
                 log=tmp_path / "b.log") as host_b,
    ):  # fmt: skip
        # A session made on A is good on B.
        on_a = Browserless(host_a.url)
        on_a.login(email, PASSWORD)
        on_b = _on(host_b.url, on_a)
        assert on_b.request("/tickets/").status == 200

        # The same page loaded on both; saved on B, the stale save on A is a conflict.
        page_a = on_a.request(f"/tickets/{number}").text
        page_b = on_b.request(f"/tickets/{number}").text
        form = {"status": "in_progress", "assignee": "", "version": hidden(page_a, "version")}
        saved = on_b.request(f"/tickets/{number}/update",
                             dict(form, csrf_token=hidden(page_b)))  # fmt: skip
        assert saved.status == 303, saved.text[:300]
        assert "In progress" in on_b.request(f"/tickets/{number}").text
        stale = on_a.request(f"/tickets/{number}/update",
                             dict(form, status="resolved", csrf_token=hidden(page_a)))  # fmt: skip
        assert stale.status == 409
        assert "Someone else saved this ticket" in stale.text

        # A file uploaded through A downloads through B (their folders differ).
        content = f"log from host A {uuid.uuid4().hex}\n".encode()
        page = on_a.request(f"/tickets/{number}").text
        upload = on_a.request(f"/tickets/{number}/comments",
                              {"body": "See attached", "csrf_token": hidden(page)},
                              files={"attachments": ("host-a.log", content)})  # fmt: skip
        assert upload.status == 303, upload.text[:300]
        link = re.search(r'href="(/attachments/\d+)"', on_b.request(f"/tickets/{number}").text)
        download = on_b.request(link.group(1))
        assert download.status == 200
        assert download.text.encode() == content
        assert not list((tmp_path / "a").glob("attachments/*/*"))  # not in A's folder

        # The login limit per (client, account) is one counter across hosts (Redis).
        statuses = []
        for host in (host_a, host_b, host_a, host_b):
            stranger = Browserless(host.url)
            token = hidden(stranger.request("/login").text)
            answer = stranger.request("/login", {"email": email, "password": "wrong-password",
                                                 "csrf_token": token})  # fmt: skip
            statuses.append(answer.status)
        # The login above was the first of 3 allowed POSTs: the 4th and 5th overall are
        # refused whichever host gets them (counted per host, all five would pass).
        assert statuses == [401, 401, 429, 429]
