"""A tiny HTTP client for live-server tests: cookies, CSRF tokens, no redirects."""

from __future__ import annotations

import html
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@dataclass
class Response:
    status: int
    text: str
    location: str | None
    headers: dict[str, str] | None = None


class Browserless:
    """One user's cookie jar against a live server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect()
        )

    def request(self, path: str, data: dict[str, object] | None = None, *,
                files: dict[str, tuple[str, bytes]] | None = None) -> Response:  # fmt: skip
        """GET, or POST ``data`` (urlencoded, or multipart with ``files``: name -> (filename,
        content))."""
        body, headers = None, {}
        if files:
            boundary = "----supportdesk-test-boundary"
            parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n"
                     f"{v}\r\n".encode() for k, v in (data or {}).items()]  # fmt: skip
            for field_name, (filename, content) in files.items():
                parts.append(f"--{boundary}\r\nContent-Disposition: form-data; "
                             f"name=\"{field_name}\"; filename=\"{filename}\"\r\n"
                             "Content-Type: application/octet-stream\r\n\r\n".encode()
                             + content + b"\r\n")  # fmt: skip
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif data is not None:
            body = urllib.parse.urlencode(data, doseq=True).encode()
        request = urllib.request.Request(self.base_url + path, data=body,  # noqa: S310  (loopback)
                                         headers=headers)  # fmt: skip
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.read().decode(), None,
                                dict(response.headers))  # fmt: skip
        except urllib.error.HTTPError as error:  # 3xx (redirects are not followed), 4xx, 5xx
            return Response(error.code, error.read().decode(), error.headers.get("Location"),
                            dict(error.headers))  # fmt: skip

    def login(self, email: str, password: str) -> None:
        page = self.request("/login")
        response = self.request(
            "/login", {"email": email, "password": password, "csrf_token": hidden(page.text)}
        )
        assert response.status == 303, response.text[:300]


def hidden(page: str, name: str = "csrf_token") -> str:
    """Return the value of the hidden input ``name`` in ``page``."""
    for tag in re.findall(r"<input[^>]*>", page):
        if f'name="{name}"' in tag:
            match = re.search(r'value="([^"]*)"', tag)
            return html.unescape(match.group(1)) if match else ""
    raise AssertionError(f"no hidden input {name!r} on the page")
