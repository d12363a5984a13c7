"""Fetching mail from IMAP mailboxes with IMAPClient.

IMAPClient is a well-kept client that speaks UIDs, MOVE, STARTTLS and modified UTF-7
folder names, which the standard library's imaplib leaves to the caller.

Each message is handed to a callback that stores it and commits; only then is it moved
to the done folder (or flagged ``Seen`` and ``Deleted``). A fetcher that dies in between
leaves the message in the inbox; the next fetch hands it over again and the receiving
side recognises it (unique Message-ID or content hash), so nothing is lost or doubled.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

FETCH_BATCH = 25  # UIDs asked for per round trip (bounded memory: one message at a time)


class MailboxError(Exception):
    """The mailbox cannot be reached, logged into or used; the message says why."""


@dataclass(frozen=True)
class Mailbox:
    """One IMAP mailbox from ``SUPPORTDESK_IMAP_URL`` (the password kept out of ``label``)."""

    host: str
    port: int
    tls: bool  # True: IMAPS; False: STARTTLS (always required)
    user: str
    password: str
    folder: str

    @property
    def label(self) -> str:
        """Where it is, for progress lines and logs (never the password)."""
        scheme = "imaps" if self.tls else "imap"
        return f"{scheme}://{self.user}@{self.host}:{self.port}/{self.folder}"

    @classmethod
    def from_url(cls, url: str) -> Mailbox:
        """Read ``imaps://user:pass@host:993/INBOX`` (user and password URL-encoded)."""
        parts = urlsplit(url)
        tls = parts.scheme == "imaps"
        return cls(
            host=parts.hostname or "", port=parts.port or (993 if tls else 143), tls=tls,
            user=unquote(parts.username or ""), password=unquote(parts.password or ""),
            folder=unquote(parts.path.lstrip("/")) or "INBOX",
        )  # fmt: skip


@contextmanager
def connect(mailbox: Mailbox, *, timeout: float, ca_file: str | None) -> Iterator[IMAPClient]:
    """Log in to ``mailbox`` over TLS and select its folder.

    :raises MailboxError: unreachable, TLS or login refused, folder missing.
    """
    context = ssl.create_default_context(cafile=ca_file)
    try:
        client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.tls,
                            ssl_context=context, timeout=timeout)  # fmt: skip
    except (OSError, IMAPClientError) as exc:
        raise MailboxError(f"{mailbox.label}: cannot connect: {exc}") from None
    try:
        if not mailbox.tls:
            client.starttls(context)
        client.login(mailbox.user, mailbox.password)
        client.select_folder(mailbox.folder)
        yield client
    except (OSError, IMAPClientError, ssl.SSLError) as exc:
        raise MailboxError(f"{mailbox.label}: {type(exc).__name__}: {exc}") from None
    finally:
        with suppress(OSError, IMAPClientError):
            client.logout()


def ensure_folder(client: IMAPClient, folder: str) -> None:
    """Create ``folder`` when it is missing (two fetchers may race to create it)."""
    if client.folder_exists(folder):
        return
    try:
        client.create_folder(folder)
    except IMAPClientError:
        if not client.folder_exists(folder):
            raise


def pending_uids(client: IMAPClient) -> list[int]:
    """Return the UIDs still to process (not flagged deleted), oldest first."""
    return sorted(int(uid) for uid in client.search(["NOT", "DELETED"]))


def fetch_raw(client: IMAPClient, uids: list[int]) -> Iterator[tuple[int, bytes]]:
    """Yield (uid, raw message) for ``uids`` in batches, without setting ``Seen``.

    A UID that another fetcher moved away meanwhile is skipped.
    """
    for start in range(0, len(uids), FETCH_BATCH):
        batch = uids[start : start + FETCH_BATCH]
        for uid in batch:
            data = client.fetch([uid], ["BODY.PEEK[]"]).get(uid)
            raw = data.get(b"BODY[]") if data else None
            if isinstance(raw, bytes):
                yield uid, raw


def mark_done(client: IMAPClient, uid: int, *, action: str, folder: str) -> None:
    """Move a processed message to ``folder``, or flag it ``Seen`` and ``Deleted``."""
    if action == "delete":
        client.add_flags([uid], [b"\\Seen", b"\\Deleted"], silent=True)
        return
    if client.has_capability("MOVE"):
        client.move([uid], folder)
        return
    client.copy([uid], folder)
    client.add_flags([uid], [b"\\Seen", b"\\Deleted"], silent=True)
    if client.has_capability("UIDPLUS"):
        client.uid_expunge([uid])


def process(
    mailbox: Mailbox,
    handle: Callable[[bytes, str], tuple[str, bool]],
    *,
    timeout: float,
    ca_file: str | None,
    action: str,
    done_folder: str,
    progress: Callable[[int, int, str], None] = lambda done, total, label: None,
    should_stop: Callable[[], bool] = lambda: False,
) -> list[str]:
    """Hand every pending message of ``mailbox`` to ``handle`` and mark it done.

    ``handle(raw, source)`` stores the message (and commits) and returns a label and
    whether to mark the message done; a message whose handling raises stays in the
    mailbox for the next fetch.

    :raises MailboxError: the mailbox cannot be used (nothing is marked then).
    """
    labels: list[str] = []
    with connect(mailbox, timeout=timeout, ca_file=ca_file) as client:
        if action == "move":
            ensure_folder(client, done_folder)
        uids = pending_uids(client)
        for uid, raw in fetch_raw(client, uids):
            if should_stop():
                break
            label, done = handle(raw, f"imap:{mailbox.host}/{mailbox.folder}")
            if done:
                with suppress(IMAPClientError):  # moved by another fetcher meanwhile
                    mark_done(client, uid, action=action, folder=done_folder)
            labels.append(label)
            progress(len(labels), len(uids), label)
    return labels
