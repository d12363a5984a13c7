"""Every streamed response under a real gunicorn (#18, 7): the test client keeps the
application context open while a response streams, so only a real server shows a
generator that reads the database after the view returned."""

from __future__ import annotations

import csv
import io

from supportdesk.audit.context import acting_as
from supportdesk.db import unit_of_work
from supportdesk.users.models import UserRole
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD
from tests.factories import TicketFactory
from tests.gunicorn_server import gunicorn
from tests.http import Browserless

ADMIN = "stream-admin@example.com"


def test_every_csv_export_streams_under_gunicorn(desk, tmp_path):
    app, url = desk
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user(ADMIN, full_name="Stella Stream", password=PASSWORD, role=UserRole.ADMIN)
        for _ in range(3):
            TicketFactory()
    env = {"SUPPORTDESK_DATABASE_URL": url, "SUPPORTDESK_SECRET_KEY": "s" * 40,
           "SUPPORTDESK_ATTACHMENT_DIR": str(tmp_path / "files")}  # fmt: skip
    with gunicorn(env, workers=1, log=tmp_path / "gunicorn.log") as server:
        client = Browserless(server.url)
        client.login(ADMIN, PASSWORD)
        assert client.request("/login").headers["Server"] == "supportdesk"  # #18 (14)
        for path, first_column in (("/tickets/export.csv", "number"),
                                   ("/audit/export.csv", "id")):  # fmt: skip
            response = client.request(path)
            assert response.status == 200, (path, response.text[:300])
            rows = list(csv.reader(io.StringIO(response.text)))
            assert rows[0][0] == first_column
            assert len(rows) >= 4, path  # the header and a row per ticket (or audit entry)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text()
