"""Handing a message to the SMTP server (smtplib), or to a file when none is configured.

Failures are classified for the worker: no answer, a time-out, a dropped connection or a
4xx reply is temporary (try again later); a 5xx reply is permanent. Error texts carry
the server's code and words, never the credentials of the URL.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from urllib.parse import unquote, urlsplit

from supportdesk.config import SMTP_SCHEMES
from supportdesk.metrics import MAIL_FAILURES, MAIL_SEND_SECONDS
from supportdesk.worker import DeliveryState, PermanentFailure, TemporaryFailure


def send(raw: bytes, *, sender: str, recipient: str, smtp_url: str | None, timeout: float,
         outbox_dir: Path, name: str) -> DeliveryState:  # fmt: skip
    """Deliver ``raw`` to ``recipient``; return SENT, or WRITTEN for the file outbox.

    :raises TemporaryFailure: try again later.
    :raises PermanentFailure: the server refused for good.
    """
    if smtp_url is None:
        outbox_dir.mkdir(parents=True, exist_ok=True)
        path = outbox_dir / f"{name}.eml"
        temporary = path.with_suffix(".tmp")
        temporary.write_bytes(raw)
        temporary.replace(path)  # whole files only, even if the worker dies mid-write
        return DeliveryState.WRITTEN
    started = time.perf_counter()
    try:
        _smtp_send(raw, sender=sender, recipient=recipient, url=smtp_url, timeout=timeout)
    except PermanentFailure:
        MAIL_FAILURES.labels("permanent").inc()
        raise
    except TemporaryFailure:
        MAIL_FAILURES.labels("temporary").inc()
        raise
    MAIL_SEND_SECONDS.observe(time.perf_counter() - started)
    return DeliveryState.SENT


# One open SMTP connection per worker batch (see :func:`reusing`): a new connection per
# message (TCP, greeting, EHLO, STARTTLS, AUTH) cost more than the message itself.
_open: ContextVar[dict[str, smtplib.SMTP] | None] = ContextVar("supportdesk_smtp", default=None)


@contextmanager
def reusing() -> Iterator[None]:
    """Keep SMTP connections open for the messages sent inside; close them after."""
    token = _open.set({})
    try:
        yield
    finally:
        for client in (_open.get() or {}).values():
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
        _open.reset(token)


def _connect(url: str, timeout: float) -> smtplib.SMTP:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or SMTP_SCHEMES[parts.scheme]
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    try:
        client.ehlo()
        if parts.scheme == "smtp+starttls":
            client.starttls(context=context)
            client.ehlo()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
    except BaseException:
        client.close()
        raise
    return client


def _smtp_send(raw: bytes, *, sender: str, recipient: str, url: str, timeout: float) -> None:
    pool = _open.get()
    client = pool.pop(url, None) if pool is not None else None
    refused: dict[str, tuple[int, bytes]] = {}
    try:
        if client is not None:
            try:
                refused = client.sendmail(sender, [recipient], raw)
            except smtplib.SMTPServerDisconnected:  # the server closed an idle connection
                client.close()
                client = None
        if client is None:
            client = _connect(url, timeout)
            refused = client.sendmail(sender, [recipient], raw)
        if pool is not None:
            pool[url] = client  # kept for the next message of the batch
        else:
            client.quit()
    except smtplib.SMTPRecipientsRefused as exc:
        _keep(pool, url, client)  # a refused recipient leaves the connection usable
        code, words = next(iter(exc.recipients.values()))
        raise _by_code(code, words) from None
    except smtplib.SMTPAuthenticationError as exc:
        # Wrong credentials are the desk's configuration, not the message: retry, so
        # fixing SUPPORTDESK_SMTP_URL lets everything queued go out.
        raise TemporaryFailure(f"{exc.smtp_code} authentication failed") from None
    except smtplib.SMTPResponseException as exc:
        _keep(pool, url, client)  # the server answered: the connection is still good
        raise _by_code(exc.smtp_code, exc.smtp_error) from None
    except smtplib.SMTPNotSupportedError as exc:
        _close(client)
        raise TemporaryFailure(f"the server does not support it: {exc}") from None
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        _close(client)
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}"[:500]) from None
    if refused:  # one recipient per message: sendmail raises instead of returning it
        code, words = next(iter(refused.values()))
        raise _by_code(code, words)


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.close()


def _keep(pool: dict[str, smtplib.SMTP] | None, url: str, client: smtplib.SMTP | None) -> None:
    if pool is not None and client is not None:
        pool[url] = client
    elif client is not None:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()


def _by_code(code: int, words: bytes | str) -> TemporaryFailure | PermanentFailure:
    text = words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)
    message = f"{code} {text}".strip()[:500]
    return PermanentFailure(message) if 500 <= code < 600 else TemporaryFailure(message)
