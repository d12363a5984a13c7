"""Running behind nginx and under systemd (#23): hashed static URLs, forwarded headers
believed only from trusted proxies, the version everywhere, units that verify."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import url_for

from supportdesk.audit.models import AuditLog
from supportdesk.extensions import db
from supportdesk.version import __version__
from tests.conftest import make_app

ROOT = Path(__file__).resolve().parent.parent
STYLESHEET = re.compile(r'href="(/static/css/app\.css\?v=([0-9a-f]{12}))"')


def test_static_urls_carry_the_content_hash_and_are_cached_for_a_year(client):
    page = client.get("/login").text
    url, digest = STYLESHEET.search(page).groups()
    response = client.get(url)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.mimetype == "text/css"
    response.close()
    plain = client.get("/static/css/app.css")  # no hash: revalidated, not kept a year
    assert "immutable" not in plain.headers.get("Cache-Control", "")
    plain.close()


def test_a_changed_file_gets_a_new_url(app, monkeypatch, tmp_path):
    (tmp_path / "css").mkdir()
    sheet = tmp_path / "css" / "app.css"
    sheet.write_text("body { color: black; }")
    monkeypatch.setattr(app, "static_folder", str(tmp_path))
    with app.test_request_context():
        before = url_for("static", filename="css/app.css")
        sheet.write_text("body { color: navy; }")
        after = url_for("static", filename="css/app.css")
    assert before != after
    assert before.startswith("/static/css/app.css?v=")


def _login_from(client, remote: str, forwarded: str) -> str:
    client.post("/login", data={"email": "nobody@example.org", "password": "x" * 12},
                headers={"X-Forwarded-For": forwarded},
                environ_base={"REMOTE_ADDR": remote})  # fmt: skip
    return db.session.scalars(sa.select(AuditLog.remote_addr).where(
        AuditLog.action == "user.login_failed").order_by(AuditLog.id.desc())).first()  # fmt: skip


def test_forwarded_addresses_are_believed_from_trusted_proxies_only(desk, tmp_path):
    _, url = desk
    app = make_app(url, tmp_path / "instance", TESTING=False, TRUSTED_PROXIES="10.0.0.0/8")
    client = app.test_client()
    with app.app_context():
        # Through the proxy: the last address is the one the proxy appended (the client's
        # as it saw it); what the client put before it is not believed.
        assert _login_from(client, "10.1.2.3", "203.0.113.9, 198.51.100.7") == "198.51.100.7"
        # Straight from a client: its header is ignored.
        assert _login_from(client, "192.0.2.44", "198.51.100.7") == "192.0.2.44"
        db.session.remove()
        db.engine.dispose()


def test_the_version_is_on_the_command_line_in_health_and_for_staff(agent_client):
    done = subprocess.run([sys.executable, "-m", "supportdesk", "--version"], check=True,
                          capture_output=True, text=True, cwd="/")  # fmt: skip
    assert done.stdout.strip() == f"supportdesk {__version__}"
    assert agent_client.get("/health").get_json()["version"] == __version__
    assert f"supportdesk {__version__}" in agent_client.get("/tickets/").text
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{__version__}]" in changelog


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian package systemd)")  # fmt: skip
def test_every_systemd_unit_verifies(tmp_path):
    units = sorted((ROOT / "deploy" / "systemd").glob("*.*"))
    expected = {f"supportdesk-{name}" for name in (
        "web.service", "worker.service", "fetch.service", "fetch.timer", "backup.service",
        "backup.timer")}  # fmt: skip
    assert {u.name for u in units} >= expected
    for unit in units:  # the installed commands, here this checkout's venv
        text = unit.read_text().replace("/opt/supportdesk/bin/", f"{Path(sys.executable).parent}/")
        (tmp_path / unit.name).write_text(text)
        if unit.suffix == ".service":
            assert "NoNewPrivileges=true" in text
            assert "ProtectSystem=strict" in text
            assert "ReadWritePaths=/var/lib/supportdesk" in text
            assert "User=supportdesk" in text
    done = subprocess.run(["systemd-analyze", "verify", "--man=no",  # noqa: S603, S607
                           *[str(tmp_path / u.name) for u in units]],
                          capture_output=True, text=True, cwd=tmp_path, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""  # not even a warning
