"""Behind a reverse proxy: trust ``X-Forwarded-For/-Proto/-Host`` from it, and only from it.

Werkzeug's ``ProxyFix`` (one proxy: the last address of ``X-Forwarded-For`` is the one
nginx appended, the client's as nginx saw it) applies only to requests whose peer is in
``SUPPORTDESK_TRUSTED_PROXIES``. A client talking to the app directly cannot choose the
address that the audit log, the rate limits and the lockouts see, whatever it sends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
VIA_PROXY = "supportdesk.via_trusted_proxy"


def trusted(address: str | None, networks: Iterable[Network]) -> bool:
    """Whether ``address`` (a peer's IP) is one of the configured proxies."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


class TrustedProxies:
    """WSGI middleware: ProxyFix for requests from a trusted proxy, nothing otherwise."""

    def __init__(self, app: Any, networks: Callable[[], Iterable[Network]]) -> None:
        self.app = app
        self.networks = networks  # read per request: the app's setting as it is now
        self.fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        """Serve one request, through ProxyFix if its peer is a trusted proxy."""
        if trusted(environ.get("REMOTE_ADDR"), self.networks()):
            environ[VIA_PROXY] = True
            return self.fixed(environ, start_response)
        return self.app(environ, start_response)
