"""The desk through a real PgBouncer in transaction pooling (#21): the HTTP smoke path —
log in, list, create, open, comment, search, report — with the settings the deployment
docs give (no session state; the connection options ignored by PgBouncer)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD
from tests.gunicorn_server import free_port, gunicorn, wait_for_port
from tests.http import Browserless, hidden

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


@pytest.fixture
def pgbouncer(desk, backend) -> Iterator[str]:
    """PgBouncer on a free port in front of the desk's database; yields the desk's URL
    through it."""
    if backend != "postgresql":
        pytest.skip("PgBouncer pools PostgreSQL connections")
    if not Path(PGBOUNCER).exists():
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    _, url = desk
    target = sa.make_url(url)
    folder = Path(tempfile.mkdtemp(prefix="supportdesk-pgbouncer-"))
    port = free_port()
    (folder / "users.txt").write_text(f'"{target.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"desk = host={target.host} port={target.port or 5432} dbname={target.database} "
        f"user={target.username}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder}/users.txt\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 100\n"
        "ignore_startup_parameters = options\n"
        f"logfile = {folder}/pgbouncer.log\npidfile = {folder}/pgbouncer.pid\n"
    )  # fmt: skip
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if os.geteuid() == 0:
        for path in (folder, *folder.iterdir()):
            shutil.chown(path, "postgres")
    process = subprocess.Popen([*as_postgres, PGBOUNCER, str(folder / "pgbouncer.ini")],  # noqa: S603
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_for_port(port, alive=lambda: process.poll() is None)
        yield target.set(host="127.0.0.1", port=port, database="desk").render_as_string(
            hide_password=False
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_desk_works_through_pgbouncer_in_transaction_mode(desk, pgbouncer, tmp_path):
    app, _ = desk
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user("bouncer@example.org", full_name="Bo Bouncer", password=PASSWORD)
    env = {"SUPPORTDESK_DATABASE_URL": pgbouncer, "SUPPORTDESK_HTTPS": "0",
           "SUPPORTDESK_INSTANCE_DIR": str(tmp_path / "instance"),
           "SUPPORTDESK_SECRET_KEY": "pgbouncer-" + "p" * 40}  # fmt: skip
    with gunicorn(env, workers=2, log=tmp_path / "g.log") as server:
        browser = Browserless(server.url)
        browser.login("bouncer@example.org", PASSWORD)
        form = browser.request("/tickets/new").text
        created = browser.request("/tickets/new", {
            "csrf_token": hidden(form), "requester": "pool@example.org",
            "title": "Through the pooler", "description": "d", "status": "open",
            "priority": "low", "assignee": ""})  # fmt: skip
        assert created.status == 303, created.text[:300]
        number = re.search(r"/tickets/(\d+)", created.location or "").group(1)
        page = browser.request(f"/tickets/{number}").text
        assert "Through the pooler" in page
        reply = {"csrf_token": hidden(page), "body": "Pooled reply"}
        commented = browser.request(f"/tickets/{number}/comments", reply)
        assert commented.status == 303, commented.text[:300]
        assert "Pooled reply" in browser.request(f"/tickets/{number}").text
        found = browser.request("/tickets/?q=pooler").text  # the search, highlighted
        assert f'class="title"><a href="/tickets/{number}" title=' in found
        assert browser.request("/reports/").status == 200
        assert browser.request("/health/database").status == 200
    assert "Traceback" not in (tmp_path / "g.log").read_text()
