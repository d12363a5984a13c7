"""POST a webhook's body to its URL, refusing addresses inside the desk's network (SSRF).

The host name is resolved once, every address it resolves to is checked, and the
connection goes to the checked address (the TLS certificate is still checked against the
host name): a name that resolves to a public address when checked and to 127.0.0.1 when
connecting (DNS rebinding) cannot slip through. Redirects are not followed.

Written on the standard library's http.client: the well-known HTTP clients resolve the
name again when connecting, so the check would not cover the connection; the one
library that pinned addresses (advocate) is no longer maintained.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


class RefusedURLError(Exception):
    """The URL may not be called (scheme, address or name)."""


@dataclass(frozen=True)
class Answer:
    """What the receiver answered, and how long the whole exchange took."""

    status: int
    duration_ms: int


def check_url(url: str, *, allow_http: bool) -> tuple[str, str, int, str]:
    """Return (scheme, host, port, path) of an acceptable URL.

    :raises RefusedURLError: not https (or http when allowed), no host, credentials.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedURLError(f"Not a URL: {exc}.") from None
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise RefusedURLError("The URL must start with https://" + (
            " or http://" if allow_http else "") + ".")  # fmt: skip
    if not parts.hostname:
        raise RefusedURLError("The URL has no host.")
    if parts.username or parts.password:
        raise RefusedURLError("Put no user name or password in the URL; the signature "
                              "proves the sender.")  # fmt: skip
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), path


def is_forbidden(address: str) -> bool:
    """Whether ``address`` is inside a network a webhook must not reach."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
            or ip.is_reserved or ip.is_unspecified or not ip.is_global)  # fmt: skip


def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """Return the address to connect to; every address ``host`` resolves to is checked.

    :raises RefusedURLError: the name does not resolve, or to a forbidden address.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedURLError(f"{host} does not resolve ({exc}).") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise RefusedURLError(f"{host} does not resolve.")
    if not allow_private:
        forbidden = sorted({a for a in addresses if is_forbidden(a)})
        if forbidden:
            raise RefusedURLError(
                f"{host} resolves to {', '.join(forbidden)}, inside a "
                "private, loopback, link-local or multicast network."
            )
    return addresses[0]


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the certificate checked for the host name."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP to a checked address (only where the development setting allows it)."""

    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_http: bool,
         allow_private: bool) -> Answer:  # fmt: skip
    """POST ``body`` to ``url``; return the answer's status and the time it took.

    :raises RefusedURLError: the URL or its address is refused (nothing was sent).
    :raises OSError: the connection failed or timed out.
    """
    scheme, host, port, path = check_url(url, allow_http=allow_http)
    address = resolve(host, port, allow_private=allow_private)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = kind(host, port, address, timeout)
    started = time.perf_counter()
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # the answer's body is not kept; read a little to finish
        status = response.status
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer: {type(exc).__name__}") from exc
    finally:
        connection.close()
    return Answer(status, int((time.perf_counter() - started) * 1000))
