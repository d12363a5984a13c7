"""The desk behind a real nginx with the repository's site file (#23): TLS, redirects,
`__Host-` cookies, the client's address as nginx saw it (and no forged one), the body
limit, static files served by nginx."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from supportdesk.audit.context import acting_as
from supportdesk.audit.models import AuditLog
from supportdesk.db import unit_of_work
from supportdesk.extensions import db
from supportdesk.paths import STATIC
from supportdesk.users.service import create_user
from tests.conftest import PASSWORD
from tests.gunicorn_server import free_port, gunicorn, wait_for_port
from tests.http import hidden

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT_ADDRESS = "127.0.0.2"  # the client's own loopback address, distinct from nginx's
EMAIL = "nginx-admin@example.org"


@pytest.fixture(autouse=True)
def _requirements(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("runs once, in the PostgreSQL part")
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed (apt-get install nginx-light; .ci/run does)")


def _site(https_port: int, http_port: int, upstream: int, cert: Path, key: Path) -> str:
    """The repository's site file with this test's ports, certificate and paths."""
    text = (ROOT / "deploy" / "nginx" / "supportdesk.conf").read_text()
    replacements = {
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "listen [::]:80;\n": "",
        "listen [::]:443 ssl http2;\n": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "desk.example.org": "localhost",
        "/etc/letsencrypt/live/localhost/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/localhost/privkey.pem": str(key),
        "client_max_body_size 60m;": "client_max_body_size 2m;",
        "/opt/supportdesk/static/": f"{STATIC}/",
    }
    for old, new in replacements.items():
        assert old in text or old.startswith("/etc/letsencrypt"), old
        text = text.replace(old, new)
    return text


@contextmanager
def nginx(site: str, folder: Path) -> Iterator[None]:
    """Run nginx in the foreground with ``site``; stop it afterwards."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    (folder / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers read the test's files
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
        f"  access_log {folder}/access.log;\n"
        + "".join(f"  {n}_temp_path {folder}/{d};\n" for n, d in (
            ("client_body", "body"), ("proxy", "proxy"), ("fastcgi", "fastcgi"),
            ("uwsgi", "uwsgi"), ("scgi", "scgi")))
        + f"  include {folder}/site.conf;\n}}\n"
    )  # fmt: skip
    checked = subprocess.run([NGINX, "-t", "-q", "-c", str(conf), "-p", str(folder)],  # noqa: S603
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    with (folder / "stderr.log").open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - nginx with the test's own files
            [NGINX, "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL, stderr=log)  # fmt: skip
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=20)


@dataclass
class Client:
    """HTTPS from 127.0.0.2 to nginx, with a cookie jar of one session."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        """Send one request; return status, headers (lower-case names) and body."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=context, source_address=(CLIENT_ADDRESS, 0),
            timeout=30)  # fmt: skip
        sent = {"Host": "localhost", "Referer": "https://localhost/login", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            text = response.read().decode(errors="replace")
            for value in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
            return (
                response.status,
                {k.lower(): v for k, v in response.getheaders()}
                | {"set-cookie": "\n".join(response.headers.get_all("Set-Cookie") or [])},
                text,
            )
        finally:
            connection.close()


def _multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
             .encode() for k, v in fields.items()]  # fmt: skip
    parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachments\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n".encode()
                 + content + b"\r\n")  # fmt: skip
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _last_login_address(app) -> str:
    with app.app_context():
        address = db.session.scalars(sa.select(AuditLog.remote_addr).where(
            AuditLog.action == "user.login").order_by(AuditLog.id.desc())).first()  # fmt: skip
        db.session.remove()
    return str(address)


def test_the_desk_behind_nginx(desk, tls_files, tmp_path):
    app, url = desk
    with app.app_context(), acting_as("test"), unit_of_work():
        create_user(EMAIL, full_name="Nia Nginx", password=PASSWORD)
    cert, key = tls_files
    https_port, http_port = free_port(), free_port()
    env = {"SUPPORTDESK_DATABASE_URL": url, "SUPPORTDESK_HTTPS": "1",
           "SUPPORTDESK_TRUSTED_PROXIES": "127.0.0.1", "SUPPORTDESK_MAX_REQUEST_MB": "2",
           "SUPPORTDESK_INSTANCE_DIR": str(tmp_path / "instance"),
           "SUPPORTDESK_SECRET_KEY": "nginx-test-" + "s" * 40}  # fmt: skip
    with gunicorn(env, workers=1, log=tmp_path / "g.log") as server:
        upstream = int(server.url.rsplit(":", 1)[1])
        site = _site(https_port, http_port, upstream, cert, key)
        with nginx(site, tmp_path / "nginx"):
            wait_for_port(https_port)
            # Plain HTTP is sent to HTTPS.
            plain = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
            plain.request("GET", "/tickets/", headers={"Host": "localhost"})
            redirect = plain.getresponse()
            assert redirect.status == 301
            assert redirect.getheader("Location") == "https://localhost/tickets/"
            plain.close()

            client = Client(https_port)
            status, _, page = client.request("GET", "/login")
            assert status == 200
            body = (f"email={EMAIL}&password={PASSWORD}&csrf_token={hidden(page)}").encode()
            status, headers, text = client.request("POST", "/login", body, {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": "203.0.113.9",  # forged by the client: not believed
            })  # fmt: skip
            assert status == 303, text[:500]
            cookie = next(c for c in headers["set-cookie"].split("\n")
                          if c.startswith("__Host-session="))  # fmt: skip
            assert "Secure" in cookie
            assert "Path=/" in cookie
            assert headers["strict-transport-security"].startswith("max-age=")
            assert _last_login_address(app) == CLIENT_ADDRESS

            status, _, listing = client.request("GET", "/tickets/new")
            assert status == 200
            token = hidden(listing)
            fields = {"csrf_token": token, "requester": "big@example.org", "title": "Files",
                      "description": "d", "status": "open", "priority": "low",
                      "assignee": ""}  # fmt: skip
            small, kind = _multipart(fields, "under.txt", b"a" * (1_900_000))
            status, headers, text = client.request("POST", "/tickets/new", small,
                                                   {"Content-Type": kind})  # fmt: skip
            assert status == 303, text[:500]
            big, kind = _multipart(fields, "over.txt", b"a" * (2_200_000))
            status, headers, text = client.request("POST", "/tickets/new", big,
                                                   {"Content-Type": kind})  # fmt: skip
            assert status == 413
            assert "Request Entity Too Large" in text
            assert "Traceback" not in text

            # Static files come from nginx itself (no app header), cached for a year.
            sheet = re.search(r'href="(/static/css/app\.css\?v=[0-9a-f]{12})"', listing).group(1)
            status, headers, _ = client.request("GET", sheet)
            assert status == 200
            assert headers["content-type"].startswith("text/css")
            assert headers["cache-control"] == "public, max-age=31536000, immutable"
            assert "x-request-id" not in headers
    with app.app_context():
        titles = db.session.scalars(sa.text("SELECT title FROM tickets")).all()
        db.session.remove()
    assert titles == ["Files"]  # the one under the limit, once
