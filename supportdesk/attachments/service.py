"""Accepting, storing and removing attachments.

Files are checked by their content (the browser's declared type is ignored), stored once
per content under ``<ATTACHMENT_DIR>/<sha256[:2]>/<sha256>``, and described by a row in
``attachments``. A file is written before the transaction commits; if it then rolls back,
the file stays unreferenced until ``flask tickets purge`` sweeps it (content-addressed, so
it can never be served by mistake).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import filetype
import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from supportdesk.attachments.models import Attachment, AttachmentBlob
from supportdesk.errors import DomainError
from supportdesk.extensions import db
from supportdesk.users.models import User

CHUNK = 1024 * 1024
# What staff may attach, by sniffed type. Office documents are zip files underneath.
ALLOWED_BINARY = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "application/pdf",
        "application/zip",
        "application/gzip",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    }
)
# Text that a browser would run or render as a document is refused even as plain text.
MARKUP = (b"<!doctype", b"<html", b"<svg", b"<?xml", b"<script", b"<iframe", b"<body", b"<head")


class RejectedFileError(DomainError):
    """A file was refused: too big, empty, or of a type the desk does not accept."""


@dataclass
class PendingFile:
    """An accepted upload, written to a temporary file, not yet in the database."""

    filename: str
    content_type: str
    size: int
    sha256: str
    temp_path: Path


def storage_dir() -> Path:
    """Return the attachment directory (created on first use)."""
    path = Path(
        current_app.config["ATTACHMENT_DIR"] or Path(current_app.instance_path) / "attachments"
    )
    path.mkdir(parents=True, exist_ok=True)
    return path


def stored_path(sha256: str) -> Path:
    """Return where the file with this content hash lives."""
    return storage_dir() / sha256[:2] / sha256


def clean_filename(name: str) -> str:
    """Return a display name without paths or control characters."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip(" .")
    return name[:255] or "attachment"


def sniff(head: bytes) -> str | None:
    """Return the accepted type of content starting with ``head``, or None."""
    kind = filetype.guess(head)
    if kind is not None:
        return kind.mime if kind.mime in ALLOWED_BINARY else None
    if b"\x00" in head:
        return None  # binary of a type we do not know
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # a character cut at the end of the sample is fine
            return None
    lowered = head.lower()
    if any(marker in lowered for marker in MARKUP):
        return None
    return "text/plain"


def accept_upload(filename: str, stream: BinaryIO, *, max_bytes: int) -> PendingFile:
    """Copy an upload to a temporary file, hashing and checking it on the way.

    :raises RejectedFileError: the file is empty, too big, or of a refused type.
    """
    name = clean_filename(filename)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, temp = tempfile.mkstemp(prefix="upload-", dir=storage_dir())
    temp_path = Path(temp)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise RejectedFileError(
                        f"{name} is larger than {max_bytes // (1024 * 1024)} MB."
                    )
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise RejectedFileError(f"{name} is empty.")
        content_type = sniff(head)
        if content_type is None:
            raise RejectedFileError(
                f"{name} is not a file type the desk accepts (images, PDF, text, "
                "office documents and zip archives are)."
            )
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return PendingFile(name, content_type, size, digest.hexdigest(), temp_path)


def discard(pending: Iterable[PendingFile]) -> None:
    """Remove the temporary files of uploads that will not be attached."""
    for item in pending:
        item.temp_path.unlink(missing_ok=True)


# Storage: a folder (``filesystem``, the default) or the database (``database``: chunks in
# ``attachment_blobs``, so several app hosts share files without a shared mount). Both
# are content-addressed; the functions below are the only code that knows which is used.

BLOB_CHUNK = 1024 * 1024


def in_database() -> bool:
    """Whether files are kept in the database (``SUPPORTDESK_ATTACHMENT_STORAGE``)."""
    return current_app.config["ATTACHMENT_STORAGE"] == "database"


def _store(item: PendingFile) -> None:
    if in_database():
        _store_blob(item.sha256, item.temp_path)
        item.temp_path.unlink(missing_ok=True)
        return
    target = stored_path(item.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        item.temp_path.unlink(missing_ok=True)  # same content stored already
    else:
        os.replace(item.temp_path, target)


def _store_blob(sha256: str, source: Path) -> None:
    """Write ``source`` as chunks of ``sha256`` unless that content is stored already.

    ``ON CONFLICT DO NOTHING``: two uploads of the same file at once both succeed.
    """
    if _blob_exists(sha256):
        return
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    with source.open("rb") as handle:
        number = 0
        while True:
            data = handle.read(BLOB_CHUNK)
            if not data and number:
                break
            row = insert(AttachmentBlob).values(sha256=sha256, chunk=number, data=data)
            db.session.execute(row.on_conflict_do_nothing())
            number += 1
            if not data:
                break


def _blob_exists(sha256: str) -> bool:
    return db.session.scalar(
        sa.select(AttachmentBlob.chunk).where(AttachmentBlob.sha256 == sha256).limit(1)
    ) is not None  # fmt: skip


def read_file(sha256: str) -> bytes:
    """Return a stored file whole (mail attachments; bounded by the upload limit).

    :raises FileNotFoundError: it is in neither store.
    """
    if in_database():
        chunks = db.session.scalars(sa.select(AttachmentBlob.data).where(
            AttachmentBlob.sha256 == sha256).order_by(AttachmentBlob.chunk)).all()  # fmt: skip
        if chunks:
            return b"".join(chunks)
    return stored_path(sha256).read_bytes()  # the folder, also a database desk's older files


class BlobReader(io.RawIOBase):
    """A stored file in the database, read one chunk at a time while it is sent.

    It uses the engine, not the request's session: a response is sent after the request
    context has ended. Memory stays at one chunk whatever the file's size.
    """

    def __init__(self, bind: sa.Engine | sa.Connection, sha256: str) -> None:
        self.bind, self.sha256 = bind, sha256
        self.next_chunk, self.buffer = 0, b""

    def readable(self) -> bool:
        """Say it can be read (io's protocol)."""
        return True

    def readinto(self, target: Any) -> int:
        """Fill ``target`` from the current chunk, fetching the next one when it is used up."""
        if not self.buffer:
            chunk = sa.select(AttachmentBlob.data).where(
                AttachmentBlob.sha256 == self.sha256, AttachmentBlob.chunk == self.next_chunk
            )
            if isinstance(self.bind, sa.Connection):  # a connection of the caller's
                data = self.bind.scalar(chunk)
            else:
                with self.bind.connect() as connection:  # one pooled checkout per chunk
                    data = connection.scalar(chunk)
            if not data:
                return 0
            self.buffer, self.next_chunk = bytes(data), self.next_chunk + 1
        size = min(len(target), len(self.buffer))
        target[:size] = self.buffer[:size]
        self.buffer = self.buffer[size:]
        return size


def open_file(sha256: str) -> BinaryIO | Path | None:
    """Return a stored file for sending: a path (folder) or a reader (database)."""
    if in_database() and _blob_exists(sha256):
        bind = db.session.get_bind()
        return io.BufferedReader(BlobReader(bind, sha256), buffer_size=BLOB_CHUNK)
    path = stored_path(sha256)
    return path if path.is_file() else None


def copy_between_stores(sha256: str, *, to_database: bool) -> bool:
    """Copy one file into the other store, verified by its SHA-256.

    Returns whether it was copied (False: already there). ``flask attachments migrate``
    uses it.

    :raises FileNotFoundError: the file is in neither store.
    :raises ValueError: the copy's SHA-256 differs (nothing is kept).
    """
    if to_database:
        if _blob_exists(sha256):
            return False
        source = stored_path(sha256)
        if hashlib.sha256(source.read_bytes()).hexdigest() != sha256:
            raise ValueError(f"{source} does not match its SHA-256")
        _store_blob(sha256, source)
        db.session.flush()
        copied = b"".join(db.session.scalars(sa.select(AttachmentBlob.data).where(
            AttachmentBlob.sha256 == sha256).order_by(AttachmentBlob.chunk)))  # fmt: skip
        if hashlib.sha256(copied).hexdigest() != sha256:
            raise ValueError(f"the copy of {sha256} in the database does not match")
        return True
    target = stored_path(sha256)
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
        return False
    data = b"".join(db.session.scalars(sa.select(AttachmentBlob.data).where(
        AttachmentBlob.sha256 == sha256).order_by(AttachmentBlob.chunk)))  # fmt: skip
    if not data and not target.exists():
        raise FileNotFoundError(sha256)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"the database copy of {sha256} does not match its SHA-256")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.copying")
    partial.write_bytes(data)
    partial.replace(target)
    return True


def attach_files(
    pending: Iterable[PendingFile],
    *,
    ticket_id: int,
    uploader: User,
    comment_id: int | None = None,
) -> list[Attachment]:
    """Move accepted uploads into storage and record them on a ticket or comment."""
    attachments = []
    for item in pending:
        _store(item)
        attachment = Attachment(
            ticket_id=ticket_id,
            comment_id=comment_id,
            uploader=uploader,
            filename=item.filename,
            content_type=item.content_type,
            size=item.size,
            sha256=item.sha256,
        )
        db.session.add(attachment)
        attachments.append(attachment)
    db.session.flush()
    return attachments


LOCK_NAME = ".backup.lock"


@contextlib.contextmanager
def store_lock(directory: Path, *, shared: bool) -> Iterator[None]:
    """Hold the store's lock: shared by a backup, exclusive by the sweep.

    A backup holds it from before its snapshot until its files are copied, so no file the
    snapshot names is swept away first. Both run where the store is mounted.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_NAME).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sweep_unreferenced_files() -> int:
    """Delete stored files no attachment row refers to (after purges); return how many.

    Waits while a backup copies files (see :func:`store_lock`).
    """
    removed = 0
    if in_database():
        orphans = sa.delete(AttachmentBlob).where(
            AttachmentBlob.sha256.not_in(sa.select(Attachment.sha256).distinct()))  # fmt: skip
        result = db.session.execute(orphans)
        removed += getattr(result, "rowcount", 0) or 0
    with store_lock(storage_dir(), shared=False):
        referenced = set(db.session.scalars(sa.select(Attachment.sha256).distinct()))
        for path in storage_dir().glob("*/*"):
            if path.is_file() and path.name not in referenced and len(path.name) == 64:
                path.unlink()
                removed += 1
        for path in storage_dir().glob("upload-*"):  # temporary files of failed requests
            path.unlink()
            removed += 1
    return removed
