"""Configuration: defaults, environment variables (``SUPPORTDESK_*``) and overrides.

Every value is parsed and validated here, once. A bad value raises :class:`ConfigError`
with one line that names the variable; ``wsgi.py`` and ``gunicorn.conf.py`` turn that
into a clean exit instead of a traceback.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

PREFIX = "SUPPORTDESK_"
ENVIRONMENTS = ("development", "production", "testing")
SUPPORTED_DRIVERS = {
    "sqlite": {"pysqlite"},
    "postgresql": {"psycopg2"},
}


class ConfigError(Exception):
    """A configuration value is missing or invalid."""


def int_setting(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    """Return a parser for a whole number between ``minimum`` and ``maximum``."""

    def parse(name: str, raw: Any) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"between {minimum} and {maximum}" if maximum else f"at least {minimum}"
            raise ConfigError(f"{PREFIX}{name} must be {bounds}, got {value}")
        return value

    return parse


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{PREFIX}{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _choice(*choices: str) -> Callable[[str, Any], str]:
    def parse(name: str, raw: Any) -> str:
        value = str(raw).strip().lower()
        if value not in choices:
            raise ConfigError(f"{PREFIX}{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _text(name: str, raw: Any) -> str:
    return str(raw)


def _database_url(name: str, raw: Any) -> str:
    try:
        url = make_url(str(raw))
    except ArgumentError:
        raise ConfigError(f"{PREFIX}{name} is not a database URL: {raw!r}") from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend not in SUPPORTED_DRIVERS or driver not in SUPPORTED_DRIVERS[backend]:
        raise ConfigError(
            f"{PREFIX}{name} has an unsupported scheme {url.drivername!r}; "
            "use sqlite:///path or postgresql+psycopg2://user@host/db"
        )
    return url.render_as_string(hide_password=False)


SLA_DEFAULT_HOURS = {"urgent": 4, "high": 24, "medium": 72, "low": 168}


def _sla_hours(name: str, raw: Any) -> dict[str, int]:
    """Parse ``urgent=4,high=24,…``; priorities not named keep their default."""
    if isinstance(raw, dict):
        raw = ",".join(f"{k}={v}" for k, v in raw.items())
    hours = dict(SLA_DEFAULT_HOURS)
    for part in filter(None, (p.strip() for p in str(raw).split(","))):
        priority, _, value = part.partition("=")
        priority = priority.strip().lower()
        if priority not in hours:
            raise ConfigError(
                f"{PREFIX}{name}: unknown priority {priority!r}; use urgent, high, medium, low"
            )
        hours[priority] = int_setting(1, 24 * 365)(f"{name} ({priority})", value)
    return hours


SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


def _server_url(name: str, url: str, schemes: Iterable[str], shape: str, *,
                user: bool = False) -> str:  # fmt: skip
    """Check a mail server's URL: its scheme, a host (and a user), a numeric port."""
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname or (user and not parts.username):
        raise ConfigError(f"{PREFIX}{name} must look like {shape}")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} has a port that is not a number") from None
    return url


def _smtp_url(name: str, raw: Any) -> str:
    """Check ``smtp://host:25``, ``smtp+starttls://user:pass@host:587``, ``smtps://…:465``."""
    shape = "smtp://host:25, smtp+starttls://user:pass@host:587 or smtps://user:pass@host:465"
    return _server_url(name, str(raw).strip(), SMTP_SCHEMES, shape)


def _replica_urls(name: str, raw: Any) -> tuple[str, ...]:
    """Check a comma-separated list of PostgreSQL URLs."""
    urls = tuple(part.strip() for part in str(raw).split(",") if part.strip())
    for url in urls:
        if not url.startswith("postgresql"):
            raise ConfigError(f"{PREFIX}{name}: replicas are PostgreSQL streaming replicas "
                              f"(postgresql+psycopg2://…), got {url.split(':')[0]!r}")  # fmt: skip
        _database_url(name, url)
    return urls


def _base_url(name: str, raw: Any) -> str:
    """Check ``https://desk.acme.example`` (a path prefix is allowed; no query, no user)."""
    text = str(raw).strip().rstrip("/")
    parts = urlsplit(text)
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
            or parts.fragment or parts.username or any(c.isspace() for c in text)):  # fmt: skip
        raise ConfigError(f"{PREFIX}{name} must be the desk's address such as "
                          f"https://desk.acme.example, got {raw!r}")  # fmt: skip
    return text


def _mail_from(name: str, raw: Any) -> str:
    """Check ``Acme Support <support@acme.example>`` or a bare address (no line breaks)."""
    text = str(raw).strip()
    display, address = parseaddr(text)
    if "\n" in text or "\r" in text or "@" not in address or not address.isascii():
        raise ConfigError(
            f"{PREFIX}{name} must be an address such as 'Acme Support <support@acme.example>'"
        )
    return text


IMAP_SCHEMES = {"imap": 143, "imaps": 993}


def _imap_urls(name: str, raw: Any) -> tuple[str, ...]:
    """Check ``imaps://user:pass@host:993/INBOX`` (several, separated by spaces).

    ``imap://`` always upgrades with STARTTLS: a password never crosses in clear.
    """
    urls = tuple(str(raw).split()) if not isinstance(raw, (list, tuple)) else tuple(raw)
    shape = ("imaps://user:password@host:993/INBOX or imap://user:password@host:143/INBOX "
             "(STARTTLS), separated by spaces")  # fmt: skip
    return tuple(_server_url(name, url, IMAP_SCHEMES, shape, user=True) for url in urls)


def _addresses(name: str, raw: Any) -> tuple[str, ...]:
    """Check a list of bare addresses separated by commas or spaces."""
    found = tuple(a for a in re.split(r"[\s,;]+", str(raw).strip()) if a)
    for address in found:
        if "@" not in address or not address.isascii() or "<" in address:
            raise ConfigError(
                f"{PREFIX}{name}: {address!r} is not a bare address such as help@acme.example"
            )
    return tuple(a.lower() for a in found)


def _networks(name: str, raw: Any) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Check addresses or networks (``127.0.0.1 10.0.0.0/8 ::1``), comma- or space-separated."""
    found = []
    for part in re.split(r"[\s,]+", str(raw).strip()):
        if not part:
            continue
        try:
            found.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigError(f"{PREFIX}{name}: {part!r} is not an IP address or network") from None
    return tuple(found)


def _rate_limit(name: str, raw: Any) -> str:
    """Check a limit the limiter can read (``lots`` would silently switch it off)."""
    text = str(raw).strip()
    try:
        limits.parse_many(text)
    except ValueError:
        raise ConfigError(
            f"{PREFIX}{name} must be a limit such as '20 per minute' or '5/minute;100/hour'"
        ) from None
    return text


@dataclass(frozen=True)
class Setting:
    """One configuration value: how to parse it and its default."""

    parse: Callable[[str, Any], Any]
    default: Any


SETTINGS: dict[str, Setting] = {
    "ENV": Setting(_choice(*ENVIRONMENTS), "development"),
    "DATABASE_URL": Setting(_database_url, None),  # None: SQLite in the instance folder
    # Streaming replicas some read-only pages read from (PostgreSQL only).
    "DATABASE_REPLICA_URLS": Setting(_replica_urls, ()),
    "REPLICA_STICKY_S": Setting(int_setting(0, 3600), 5),
    "REPLICA_MAX_LAG_S": Setting(int_setting(0, 86_400), 10),
    "SECRET_KEY": Setting(_text, None),
    "DB_POOL_SIZE": Setting(int_setting(1, 1000), 5),
    "DB_MAX_OVERFLOW": Setting(int_setting(0, 1000), 10),
    "DB_POOL_TIMEOUT": Setting(int_setting(1, 600), 3),
    "DB_POOL_RECYCLE": Setting(int_setting(-1), 3600),
    "DB_STATEMENT_TIMEOUT_MS": Setting(int_setting(0), 30000),
    "DB_LOCK_TIMEOUT_MS": Setting(int_setting(0), 5000),
    "SQLITE_BUSY_TIMEOUT_MS": Setting(int_setting(0), 5000),
    "MAX_REQUEST_MB": Setting(int_setting(1, 4096), 60),
    "MAX_ATTACHMENT_MB": Setting(int_setting(1, 1024), 25),
    "MAX_TEXT_CHARS": Setting(int_setting(1_000, 10_000_000), 100_000),
    "INSTANCE_DIR": Setting(_text, None),  # None: Flask's instance folder
    "ATTACHMENT_DIR": Setting(_text, None),  # None: <instance>/attachments
    # Where attachment files live: a folder (one host, or a shared mount) or the database.
    "ATTACHMENT_STORAGE": Setting(_choice("filesystem", "database"), "filesystem"),
    "QUERY_STATS": Setting(_bool, None),  # None: on outside production
    "SLOW_QUERY_MS": Setting(int_setting(0), 200),
    # How long a computed report is shared with others asking for the same one; 0: never.
    "REPORTS_MAX_AGE_S": Setting(int_setting(0, 86_400), 300),
    "LOG_LEVEL": Setting(_choice("debug", "info", "warning", "error"), "info"),
    "LOG_FORMAT": Setting(_choice("text", "json"), "text"),
    "METRICS_TOKEN": Setting(_text, None),  # None: GET /metrics is 404
    "HTTPS": Setting(_bool, None),  # None: on in production
    "RATELIMIT_STORAGE_URL": Setting(_text, "memory://"),
    # Where security researchers write (security.txt); None: mailto: the desk's address.
    "SECURITY_CONTACT": Setting(_text, None),
    # The desk's address as staff reach it (links in email); None: no password-reset mail.
    "BASE_URL": Setting(_base_url, None),
    # Proxies whose X-Request-ID is kept (nginx's $request_id); from anyone else it is not.
    "TRUSTED_PROXIES": Setting(_networks, ()),
    "LOGIN_RATE_LIMIT": Setting(_rate_limit, "20 per minute"),
    "API_RATE_LIMIT": Setting(_rate_limit, "600 per minute"),
    "LOGIN_ACCOUNT_RATE_LIMIT": Setting(_rate_limit, "5 per minute"),
    # Who needs a second factor (TOTP) after the password; None: admins in production.
    "MFA_REQUIRED": Setting(_choice("admins", "all", "none"), None),
    "MFA_ISSUER": Setting(_text, "supportdesk"),  # the name authenticator apps show
    "SESSION_IDLE_MINUTES": Setting(int_setting(1, 24 * 60), 30),
    "SESSION_MAX_HOURS": Setting(int_setting(1, 7 * 24), 12),
    "SLA_HOURS": Setting(_sla_hours, dict(SLA_DEFAULT_HOURS)),
    # Email out: the desk's address, its Message-ID domain, a signature, the optional
    # acknowledgement of new tickets, the SMTP server (unset: .eml files in the outbox).
    "MAIL_FROM": Setting(_mail_from, "Support <support@localhost>"),
    "MAIL_DOMAIN": Setting(_text, None),  # None: the domain of MAIL_FROM
    "MAIL_SIGNATURE": Setting(_text, ""),
    "MAIL_ACK": Setting(_bool, False),
    "SMTP_URL": Setting(_smtp_url, None),  # None: write .eml files to OUTBOX_DIR
    "SMTP_TIMEOUT_SECONDS": Setting(int_setting(1, 600), 30),
    "OUTBOX_DIR": Setting(_text, None),  # None: <instance>/outbox
    "MAIL_MAX_ATTEMPTS": Setting(int_setting(1, 50), 8),
    "MAIL_RETRY_SECONDS": Setting(int_setting(1, 86_400), 600),
    # Email in: the desk's other addresses (never CCs, never customers), limits, what
    # staff hear, and the IMAP mailboxes that `flask mail fetch` reads.
    "MAIL_ADDRESSES": Setting(_addresses, ()),
    "MAIL_MAX_BYTES": Setting(int_setting(1024, 1 << 31), 25 * 1024 * 1024),
    "MAIL_SENDER_LIMIT": Setting(int_setting(1, 100_000), 20),
    "MAIL_PARKED_DAYS": Setting(int_setting(1, 3650), 90),
    "NOTIFY_STAFF": Setting(_bool, True),
    "IMAP_URL": Setting(_imap_urls, ()),
    "IMAP_DONE_FOLDER": Setting(_text, "Processed"),
    "IMAP_DONE_ACTION": Setting(_choice("move", "delete"), "move"),
    "IMAP_CA_FILE": Setting(_text, None),  # None: the system's trusted certificates
    "IMAP_TIMEOUT_SECONDS": Setting(int_setting(1, 600), 60),
    # Webhooks: what the worker may call, how long it waits, how often it retries, when a
    # failing hook is turned off, how long a process keeps its list of hooks.
    "WEBHOOK_ALLOW_HTTP": Setting(_bool, False),  # development only: plain http:// URLs
    "WEBHOOK_ALLOW_PRIVATE": Setting(_bool, False),  # development only: loopback, LAN
    "WEBHOOK_TIMEOUT_S": Setting(int_setting(1, 120), 10),
    "WEBHOOK_MAX_ATTEMPTS": Setting(int_setting(1, 100), 12),
    "WEBHOOK_RETRY_SECONDS": Setting(int_setting(1, 86_400), 60),
    "WEBHOOK_DISABLE_AFTER_HOURS": Setting(int_setting(1, 24 * 30), 24),
    "WEBHOOK_REFRESH_S": Setting(int_setting(0, 3600), 10),
    # The worker (flask worker): how often it looks for due work, how long a claim holds.
    "WORKER_INTERVAL_SECONDS": Setting(int_setting(1, 3600), 5),
    "WORKER_LEASE_SECONDS": Setting(int_setting(1, 86_400), 300),
}


def load_settings(
    environ: Mapping[str, str], overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Parse every setting from defaults, ``SUPPORTDESK_*`` variables and overrides.

    Overrides use the names without the prefix (``{"DB_POOL_SIZE": 2}``) and win over the
    environment. Unknown override names are refused so that a typo cannot pass silently.
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(SETTINGS) - PASSTHROUGH_KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        if name in overrides:
            raw = overrides[name]
        elif PREFIX + name in environ:
            raw = environ[PREFIX + name]
        else:
            values[name] = setting.default
            continue
        values[name] = None if raw is None else setting.parse(name, raw)
    for key in PASSTHROUGH_KEYS & set(overrides):
        values[key] = overrides[key]
    if values["QUERY_STATS"] is None:
        values["QUERY_STATS"] = values["ENV"] != "production"
    if values["HTTPS"] is None:
        values["HTTPS"] = values["ENV"] == "production"
    if values["DATABASE_REPLICA_URLS"] and not str(values["DATABASE_URL"] or "").startswith(
        "postgresql"
    ):
        raise ConfigError(f"{PREFIX}DATABASE_REPLICA_URLS needs a PostgreSQL primary "
                          f"({PREFIX}DATABASE_URL=postgresql+psycopg2://…)")  # fmt: skip
    if values["MFA_REQUIRED"] is None:
        values["MFA_REQUIRED"] = "admins" if values["ENV"] == "production" else "none"
    return values


# Flask settings tests may set directly (they are not read from the environment).
PASSTHROUGH_KEYS = {
    "WTF_CSRF_ENABLED",
    "TESTING",
    "SERVER_NAME",
    "LOGIN_DISABLED",
    "RATELIMIT_ENABLED",
}


def validate_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    """Check every ``SUPPORTDESK_*`` setting without building the app (gunicorn's master).

    :raises ConfigError: a setting is invalid, or production has no secret key.
    """
    values = load_settings(environ)
    if values["ENV"] == "production" and not values["SECRET_KEY"]:
        resolve_secret_key(values, instance_path="")  # raises the documented message
    return values


def resolve_secret_key(values: dict[str, Any], instance_path: str) -> str:
    """Return the secret key: required in production, generated once in development."""
    key = values["SECRET_KEY"]
    if key:
        return str(key)
    if values["ENV"] == "production":
        raise ConfigError(
            f"{PREFIX}SECRET_KEY is required when {PREFIX}ENV=production "
            '(generate one with: python -c "import secrets; print(secrets.token_hex(32))")'
        )
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two workers starting at once must not both write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def resolve_database_url(values: dict[str, Any], instance_path: str) -> URL:
    """Return the database URL: the configured one, or SQLite in the instance folder."""
    if values["DATABASE_URL"]:
        return make_url(values["DATABASE_URL"])
    return make_url(f"sqlite:///{Path(instance_path) / 'supportdesk.db'}")


def engine_options(values: dict[str, Any], url: URL) -> dict[str, Any]:
    """Build SQLAlchemy engine options for the configured backend."""
    # Error messages (and so logs) never carry a statement's parameter values: they hold
    # customers' names, e-mail addresses and ticket text.
    options: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
    if url.get_backend_name() == "postgresql":
        server_options = (
            f"-c statement_timeout={values['DB_STATEMENT_TIMEOUT_MS']} "
            f"-c lock_timeout={values['DB_LOCK_TIMEOUT_MS']}"
        )
        options["connect_args"] = {
            "connect_timeout": 10,
            "application_name": "supportdesk",
            "options": server_options,
        }
    else:
        options["connect_args"] = {"timeout": values["SQLITE_BUSY_TIMEOUT_MS"] / 1000}
        if url.database in (None, "", ":memory:"):
            return options  # in-memory SQLite uses a single static connection, no pool
    options.update(
        pool_size=values["DB_POOL_SIZE"],
        max_overflow=values["DB_MAX_OVERFLOW"],
        pool_timeout=values["DB_POOL_TIMEOUT"],
        pool_recycle=values["DB_POOL_RECYCLE"],
    )
    return options
